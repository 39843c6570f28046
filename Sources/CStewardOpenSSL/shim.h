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

// CRC-32C (Castagnoli) with the SSE 4.2 instruction, for the vault's frame checksums: about
// ten times the table-driven Swift version. The caller checks steward_crc32c_hw_available()
// first (the Swift tables serve other CPUs). `crc` is the raw register: no inversion here.
#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static inline uint32_t steward_crc32c_hw(uint32_t crc, const void *data, size_t count) {
    const unsigned char *p = (const unsigned char *)data;
    unsigned long long c = crc;
    while (count >= 8) {
        unsigned long long word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        count -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (count > 0) {
        c32 = __builtin_ia32_crc32qi(c32, *p);
        p++;
        count--;
    }
    return c32;
}
static inline int steward_crc32c_hw_available(void) { return __builtin_cpu_supports("sse4.2"); }
#else
static inline uint32_t steward_crc32c_hw(uint32_t crc, const void *data, size_t count) {
    (void)data; (void)count; return crc;
}
static inline int steward_crc32c_hw_available(void) { return 0; }
#endif

#endif
