// libcurl (OpenSSL flavour: apt libcurl4-openssl-dev), imported by StewardHTTP only.
#ifndef STEWARD_CURL_SHIM_H
#define STEWARD_CURL_SHIM_H
#include <curl/curl.h>
#endif
