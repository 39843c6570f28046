// ChaCha20-Poly1305 (RFC 8439) for the record writer: pure arithmetic on caller-provided
// buffers, no allocation, no locks, no system calls, so it runs inside the signal handler.
// The next launch opens the chunks with OpenSSL's implementation, so the two check each other.
#include "crash_internal.h"

#include <string.h>

static inline uint32_t load32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void store32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void store64(uint8_t *p, uint64_t v) {
    store32(p, (uint32_t)v);
    store32(p + 4, (uint32_t)(v >> 32));
}

#define ROTL32(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
#define QUARTER(a, b, c, d) \
    a += b; d ^= a; d = ROTL32(d, 16); \
    c += d; b ^= c; b = ROTL32(b, 12); \
    a += b; d ^= a; d = ROTL32(d, 8);  \
    c += d; b ^= c; b = ROTL32(b, 7);

/// One 64-byte ChaCha20 block (RFC 8439 2.3).
static void chacha20_block(const uint8_t key[32], uint32_t counter, const uint8_t nonce[12], uint8_t out[64]) {
    uint32_t s[16] = {0x61707865u, 0x3320646eu, 0x79622d32u, 0x6b206574u};
    for (int i = 0; i < 8; i++) s[4 + i] = load32(key + 4 * i);
    s[12] = counter;
    s[13] = load32(nonce);
    s[14] = load32(nonce + 4);
    s[15] = load32(nonce + 8);
    uint32_t x[16];
    memcpy(x, s, sizeof x);
    for (int i = 0; i < 10; i++) {
        QUARTER(x[0], x[4], x[8], x[12])
        QUARTER(x[1], x[5], x[9], x[13])
        QUARTER(x[2], x[6], x[10], x[14])
        QUARTER(x[3], x[7], x[11], x[15])
        QUARTER(x[0], x[5], x[10], x[15])
        QUARTER(x[1], x[6], x[11], x[12])
        QUARTER(x[2], x[7], x[8], x[13])
        QUARTER(x[3], x[4], x[9], x[14])
    }
    for (int i = 0; i < 16; i++) store32(out + 4 * i, x[i] + s[i]);
}

// MARK: - Poly1305 (26-bit limbs, after poly1305-donna)

typedef struct {
    uint32_t r[5];
    uint32_t h[5];
    uint32_t pad[4];
} poly1305_t;

static void poly1305_init(poly1305_t *st, const uint8_t key[32]) {
    st->r[0] = load32(key + 0) & 0x3ffffff;
    st->r[1] = (load32(key + 3) >> 2) & 0x3ffff03;
    st->r[2] = (load32(key + 6) >> 4) & 0x3ffc0ff;
    st->r[3] = (load32(key + 9) >> 6) & 0x3f03fff;
    st->r[4] = (load32(key + 12) >> 8) & 0x00fffff;
    for (int i = 0; i < 5; i++) st->h[i] = 0;
    for (int i = 0; i < 4; i++) st->pad[i] = load32(key + 16 + 4 * i);
}

/// Absorbs whole 16-byte blocks (each with its high bit: every block here is a full one, the
/// AEAD pads its parts to 16 bytes).
static void poly1305_blocks(poly1305_t *st, const uint8_t *m, size_t bytes) {
    const uint32_t hibit = 1u << 24;
    const uint64_t r0 = st->r[0], r1 = st->r[1], r2 = st->r[2], r3 = st->r[3], r4 = st->r[4];
    const uint64_t s1 = r1 * 5, s2 = r2 * 5, s3 = r3 * 5, s4 = r4 * 5;
    uint32_t h0 = st->h[0], h1 = st->h[1], h2 = st->h[2], h3 = st->h[3], h4 = st->h[4];
    while (bytes >= 16) {
        h0 += load32(m + 0) & 0x3ffffff;
        h1 += (load32(m + 3) >> 2) & 0x3ffffff;
        h2 += (load32(m + 6) >> 4) & 0x3ffffff;
        h3 += (load32(m + 9) >> 6) & 0x3ffffff;
        h4 += (load32(m + 12) >> 8) | hibit;
        uint64_t d0 = (uint64_t)h0 * r0 + (uint64_t)h1 * s4 + (uint64_t)h2 * s3 + (uint64_t)h3 * s2 + (uint64_t)h4 * s1;
        uint64_t d1 = (uint64_t)h0 * r1 + (uint64_t)h1 * r0 + (uint64_t)h2 * s4 + (uint64_t)h3 * s3 + (uint64_t)h4 * s2;
        uint64_t d2 = (uint64_t)h0 * r2 + (uint64_t)h1 * r1 + (uint64_t)h2 * r0 + (uint64_t)h3 * s4 + (uint64_t)h4 * s3;
        uint64_t d3 = (uint64_t)h0 * r3 + (uint64_t)h1 * r2 + (uint64_t)h2 * r1 + (uint64_t)h3 * r0 + (uint64_t)h4 * s4;
        uint64_t d4 = (uint64_t)h0 * r4 + (uint64_t)h1 * r3 + (uint64_t)h2 * r2 + (uint64_t)h3 * r1 + (uint64_t)h4 * r0;
        uint32_t c = (uint32_t)(d0 >> 26); h0 = (uint32_t)d0 & 0x3ffffff;
        d1 += c; c = (uint32_t)(d1 >> 26); h1 = (uint32_t)d1 & 0x3ffffff;
        d2 += c; c = (uint32_t)(d2 >> 26); h2 = (uint32_t)d2 & 0x3ffffff;
        d3 += c; c = (uint32_t)(d3 >> 26); h3 = (uint32_t)d3 & 0x3ffffff;
        d4 += c; c = (uint32_t)(d4 >> 26); h4 = (uint32_t)d4 & 0x3ffffff;
        h0 += c * 5; c = h0 >> 26; h0 &= 0x3ffffff;
        h1 += c;
        m += 16;
        bytes -= 16;
    }
    st->h[0] = h0; st->h[1] = h1; st->h[2] = h2; st->h[3] = h3; st->h[4] = h4;
}

/// Absorbs `bytes` bytes padded with zeros to a multiple of 16 (the AEAD's padding).
static void poly1305_padded(poly1305_t *st, const uint8_t *m, size_t bytes) {
    size_t whole = bytes & ~(size_t)15;
    poly1305_blocks(st, m, whole);
    if (whole < bytes) {
        uint8_t block[16] = {0};
        memcpy(block, m + whole, bytes - whole);
        poly1305_blocks(st, block, 16);
    }
}

static void poly1305_finish(poly1305_t *st, uint8_t mac[16]) {
    uint32_t h0 = st->h[0], h1 = st->h[1], h2 = st->h[2], h3 = st->h[3], h4 = st->h[4];
    uint32_t c = h1 >> 26; h1 &= 0x3ffffff;
    h2 += c; c = h2 >> 26; h2 &= 0x3ffffff;
    h3 += c; c = h3 >> 26; h3 &= 0x3ffffff;
    h4 += c; c = h4 >> 26; h4 &= 0x3ffffff;
    h0 += c * 5; c = h0 >> 26; h0 &= 0x3ffffff;
    h1 += c;
    // h - p, selected when h >= p.
    uint32_t g0 = h0 + 5; c = g0 >> 26; g0 &= 0x3ffffff;
    uint32_t g1 = h1 + c; c = g1 >> 26; g1 &= 0x3ffffff;
    uint32_t g2 = h2 + c; c = g2 >> 26; g2 &= 0x3ffffff;
    uint32_t g3 = h3 + c; c = g3 >> 26; g3 &= 0x3ffffff;
    uint32_t g4 = h4 + c - (1u << 26);
    uint32_t mask = (g4 >> 31) - 1;
    g0 &= mask; g1 &= mask; g2 &= mask; g3 &= mask; g4 &= mask;
    mask = ~mask;
    h0 = (h0 & mask) | g0; h1 = (h1 & mask) | g1; h2 = (h2 & mask) | g2; h3 = (h3 & mask) | g3; h4 = (h4 & mask) | g4;
    h0 = h0 | (h1 << 26);
    h1 = (h1 >> 6) | (h2 << 20);
    h2 = (h2 >> 12) | (h3 << 14);
    h3 = (h3 >> 18) | (h4 << 8);
    uint64_t f = (uint64_t)h0 + st->pad[0]; h0 = (uint32_t)f;
    f = (uint64_t)h1 + st->pad[1] + (f >> 32); h1 = (uint32_t)f;
    f = (uint64_t)h2 + st->pad[2] + (f >> 32); h2 = (uint32_t)f;
    f = (uint64_t)h3 + st->pad[3] + (f >> 32); h3 = (uint32_t)f;
    store32(mac + 0, h0);
    store32(mac + 4, h1);
    store32(mac + 8, h2);
    store32(mac + 12, h3);
    volatile uint32_t *wipe = (volatile uint32_t *)st;
    for (size_t i = 0; i < sizeof *st / sizeof(uint32_t); i++) wipe[i] = 0;
}

// MARK: - AEAD

void steward_crash_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad, size_t aad_length,
                        uint8_t *data, size_t length, uint8_t tag[16]) {
    uint8_t block[64];
    chacha20_block(key, 0, nonce, block);
    poly1305_t mac;
    poly1305_init(&mac, block);
    uint32_t counter = 1;
    for (size_t at = 0; at < length; at += 64, counter++) {
        chacha20_block(key, counter, nonce, block);
        size_t n = length - at < 64 ? length - at : 64;
        for (size_t i = 0; i < n; i++) data[at + i] ^= block[i];
    }
    volatile uint8_t *wipe = block;
    for (size_t i = 0; i < sizeof block; i++) wipe[i] = 0;
    poly1305_padded(&mac, aad, aad_length);
    poly1305_padded(&mac, data, length);
    uint8_t lengths[16];
    store64(lengths, (uint64_t)aad_length);
    store64(lengths + 8, (uint64_t)length);
    poly1305_blocks(&mac, lengths, 16);
    poly1305_finish(&mac, tag);
}
