#ifndef C_STEWARD_OPENSSL_SHIM_H
#define C_STEWARD_OPENSSL_SHIM_H

// The parts of the system libcrypto (OpenSSL 3) that StewardCore uses: the EVP cipher,
// digest and MAC interfaces, the CSPRNG and OPENSSL_cleanse. Nothing else imports this module.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/err.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>


#endif
