// libcurl (OpenSSL flavour: apt libcurl4-openssl-dev) and zlib (apt zlib1g-dev), imported by
// StewardHTTP only.
//
// curl_easy_setopt and curl_easy_getinfo are variadic, and zlib's deflateInit2/inflateInit2 are
// macros: Swift can call neither, so each use gets a typed `static inline` wrapper here.
#ifndef STEWARD_CURL_SHIM_H
#define STEWARD_CURL_SHIM_H
#include <curl/curl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

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

// MARK: - zlib (gzip, RFC 1952)

/// An upper bound of the gzip form of `length` bytes (zlib's bound plus the gzip header and
/// trailer in place of zlib's).
static inline size_t steward_gzip_bound(size_t length) {
    return (size_t)compressBound((uLong)length) + 32;
}

/// Compresses `input` into gzip format in one call. `*output_length` holds the room at
/// `output` (at least steward_gzip_bound(input_length)) and receives the bytes written.
/// Returns Z_OK, or a zlib error code.
static inline int steward_gzip_compress(const unsigned char *input, size_t input_length,
                                        unsigned char *output, size_t *output_length) {
    if (input_length > UINT_MAX || *output_length > UINT_MAX) return Z_BUF_ERROR;
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
    int status = deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    if (status != Z_OK) return status;
    stream.next_in = (Bytef *)input;
    stream.avail_in = (uInt)input_length;
    stream.next_out = output;
    stream.avail_out = (uInt)*output_length;
    status = deflate(&stream, Z_FINISH);
    *output_length = (size_t)stream.total_out;
    deflateEnd(&stream);
    return status == Z_STREAM_END ? Z_OK : (status == Z_OK ? Z_BUF_ERROR : status);
}

/// Decompresses gzip `input` into `output` (room `*output_length`, receives the bytes written).
/// Returns Z_OK when the whole stream fit, Z_BUF_ERROR when the output room ran out, or another
/// zlib error code for a damaged stream.
static inline int steward_gzip_decompress(const unsigned char *input, size_t input_length,
                                          unsigned char *output, size_t *output_length) {
    if (input_length > UINT_MAX || *output_length > UINT_MAX) return Z_BUF_ERROR;
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    int status = inflateInit2(&stream, 15 + 16);
    if (status != Z_OK) return status;
    stream.next_in = (Bytef *)input;
    stream.avail_in = (uInt)input_length;
    stream.next_out = output;
    stream.avail_out = (uInt)*output_length;
    status = inflate(&stream, Z_FINISH);
    *output_length = (size_t)stream.total_out;
    inflateEnd(&stream);
    if (status == Z_STREAM_END) return Z_OK;
    if (status == Z_OK || status == Z_BUF_ERROR) return stream.avail_out == 0 ? Z_BUF_ERROR : Z_DATA_ERROR;
    return status;
}

#endif
