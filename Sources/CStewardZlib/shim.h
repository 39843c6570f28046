#ifndef STEWARD_ZLIB_SHIM_H
#define STEWARD_ZLIB_SHIM_H

// zlib (apt zlib1g-dev), imported by StewardHTTP only (gzip request and response bodies).
// deflateInit2 and inflateInit2 are macros Swift cannot call: typed wrappers here.
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <zlib.h>

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
