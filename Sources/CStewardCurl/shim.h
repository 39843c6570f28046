// libcurl (OpenSSL flavour: apt libcurl4-openssl-dev), imported by StewardHTTP only.
//
// curl_easy_setopt and curl_easy_getinfo are variadic: Swift cannot call them, so each use gets
// a typed `static inline` wrapper here. zlib is CStewardZlib's.
#ifndef STEWARD_CURL_SHIM_H
#define STEWARD_CURL_SHIM_H
#include <curl/curl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

// MARK: - libcurl

/// curl_global_init(CURL_GLOBAL_ALL); call once per process (StewardHTTP does, lazily).
static inline CURLcode steward_curl_global_init(void) {
    return curl_global_init(CURL_GLOBAL_ALL);
}

static inline CURLcode steward_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode steward_curl_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode steward_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

// Limits a transfer to HTTPS and HTTP: CURLOPT_PROTOCOLS_STR from libcurl 7.85 on, the
// deprecated bit mask before (Ubuntu 22.04 ships 7.81).
static inline CURLcode steward_curl_allow_http_only(CURL *handle) {
#if LIBCURL_VERSION_NUM >= 0x075500
    return curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "https,http");
#else
    return curl_easy_setopt(handle, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTPS | CURLPROTO_HTTP));
#endif
}

static inline CURLcode steward_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode steward_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

/// CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION.
static inline CURLcode steward_curl_setopt_write_function(CURL *handle, CURLoption option, curl_write_callback value) {
    return curl_easy_setopt(handle, option, value);
}

/// CURLOPT_READFUNCTION.
static inline CURLcode steward_curl_setopt_read_function(CURL *handle, CURLoption option, curl_read_callback value) {
    return curl_easy_setopt(handle, option, value);
}

/// CURLOPT_XFERINFOFUNCTION.
static inline CURLcode steward_curl_setopt_xferinfo_function(CURL *handle, CURLoption option, curl_xferinfo_callback value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode steward_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode steward_curl_getinfo_string(CURL *handle, CURLINFO info, char **value) {
    return curl_easy_getinfo(handle, info, value);
}

#endif
