/* SHA-256 as specified in FIPS 180-4; see sha256_impl.h for the contract. */
#include <string.h>

#include "sha256_impl.h"

#if defined(__x86_64__) || defined(__i386__)
#define OCICACHE_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/* FIPS 180-4 section 4.2.2: the first 32 bits of the fractional parts of the
 * cube roots of the first 64 primes. */
static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* FIPS 180-4 section 5.3.3: the initial hash value. */
static const uint32_t H0[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

typedef void (*compress_fn)(uint32_t h[8], const uint8_t *blocks, size_t nblocks);

static uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- portable compression (FIPS 180-4 section 6.2.2) ---- */

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define CH(x, y, z) (((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x, y, z) (((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))
#define BSIG0(x) (ROTR(x, 2) ^ ROTR(x, 13) ^ ROTR(x, 22))
#define BSIG1(x) (ROTR(x, 6) ^ ROTR(x, 11) ^ ROTR(x, 25))
#define SSIG0(x) (ROTR(x, 7) ^ ROTR(x, 18) ^ ((x) >> 3))
#define SSIG1(x) (ROTR(x, 17) ^ ROTR(x, 19) ^ ((x) >> 10))

static void compress_portable(uint32_t h[8], const uint8_t *blocks, size_t nblocks)
{
    uint32_t w[64];

    for (; nblocks > 0; nblocks--, blocks += SHA256_BLOCK_SIZE) {
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
        uint32_t e = h[4], f = h[5], g = h[6], hh = h[7];
        int t;

        for (t = 0; t < 16; t++)
            w[t] = load_be32(blocks + 4 * t);
        for (t = 16; t < 64; t++)
            w[t] = SSIG1(w[t - 2]) + w[t - 7] + SSIG0(w[t - 15]) + w[t - 16];
        for (t = 0; t < 64; t++) {
            uint32_t t1 = hh + BSIG1(e) + CH(e, f, g) + K256[t] + w[t];
            uint32_t t2 = BSIG0(a) + MAJ(a, b, c);
            hh = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d;
        h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
    }
}

/* ---- x86 SHA extensions ----
 * SHA256RNDS2 performs two rounds on the state split as ABEF / CDGH (A in the
 * highest lane) using the low two lanes of its message+constant operand.
 * SHA256MSG1/MSG2 compute the message schedule four words at a time. */
#ifdef OCICACHE_X86

#define SHANI_TARGET __attribute__((target("sha,sse4.1,ssse3")))

/* Four rounds 4*i .. 4*i+3 with schedule words m. */
#define SHANI_ROUNDS(i, m)                                                              \
    do {                                                                                \
        __m128i wk_ = _mm_add_epi32((m), _mm_loadu_si128((const __m128i *)&K256[4 * (i)])); \
        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk_);                                  \
        abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk_, 0x0E));         \
    } while (0)

/* Replace m0 = W[t-16..t-13] by W[t..t+3], given m1..m3 = W[t-12..t-1]. */
#define SHANI_SCHEDULE(m0, m1, m2, m3)                                                  \
    (m0) = _mm_sha256msg2_epu32(                                                        \
        _mm_add_epi32(_mm_sha256msg1_epu32((m0), (m1)), _mm_alignr_epi8((m3), (m2), 4)), (m3))

SHANI_TARGET
static void compress_shani(uint32_t h[8], const uint8_t *blocks, size_t nblocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i dcba = _mm_loadu_si128((const __m128i *)&h[0]);
    __m128i hgfe = _mm_loadu_si128((const __m128i *)&h[4]);
    __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);

    for (; nblocks > 0; nblocks--, blocks += SHA256_BLOCK_SIZE) {
        const __m128i abef_in = abef, cdgh_in = cdgh;
        __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blocks + 0)), bswap);
        __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blocks + 16)), bswap);
        __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blocks + 32)), bswap);
        __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blocks + 48)), bswap);
        int i;

        SHANI_ROUNDS(0, m0);
        SHANI_ROUNDS(1, m1);
        SHANI_ROUNDS(2, m2);
        SHANI_ROUNDS(3, m3);
        for (i = 4; i < 16; i += 4) {
            SHANI_SCHEDULE(m0, m1, m2, m3);
            SHANI_ROUNDS(i, m0);
            SHANI_SCHEDULE(m1, m2, m3, m0);
            SHANI_ROUNDS(i + 1, m1);
            SHANI_SCHEDULE(m2, m3, m0, m1);
            SHANI_ROUNDS(i + 2, m2);
            SHANI_SCHEDULE(m3, m0, m1, m2);
            SHANI_ROUNDS(i + 3, m3);
        }
        abef = _mm_add_epi32(abef, abef_in);
        cdgh = _mm_add_epi32(cdgh, cdgh_in);
    }

    {
        __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
        __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
        _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(feba, dchg, 0xF0));
        _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(dchg, feba, 8));
    }
}

static int cpu_has_sha_ni(void)
{
    unsigned int eax, ebx, ecx, edx;

    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
        return 0;
    if (!(ecx & bit_SSSE3) || !(ecx & bit_SSE4_1))
        return 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
        return 0;
    return (ebx >> 29) & 1;
}

#endif /* OCICACHE_X86 */

static compress_fn compress = compress_portable;

const char *sha256_select_backend(int allow_accelerated)
{
#ifdef OCICACHE_X86
    if (allow_accelerated && cpu_has_sha_ni()) {
        compress = compress_shani;
        return "sha-ni";
    }
#endif
    compress = compress_portable;
    return "portable";
}

void sha256_init(sha256_state *s)
{
    memcpy(s->h, H0, sizeof(H0));
    s->total = 0;
    s->buflen = 0;
    memset(s->buffer, 0, sizeof(s->buffer));
}

void sha256_update(sha256_state *s, const uint8_t *data, size_t len)
{
    size_t nblocks;

    s->total += len;
    if (s->buflen > 0) {
        size_t take = SHA256_BLOCK_SIZE - s->buflen;
        if (take > len)
            take = len;
        memcpy(s->buffer + s->buflen, data, take);
        s->buflen += (uint32_t)take;
        data += take;
        len -= take;
        if (s->buflen < SHA256_BLOCK_SIZE)
            return;
        compress(s->h, s->buffer, 1);
        s->buflen = 0;
    }
    nblocks = len / SHA256_BLOCK_SIZE;
    if (nblocks > 0) {
        compress(s->h, data, nblocks);
        data += nblocks * SHA256_BLOCK_SIZE;
        len -= nblocks * SHA256_BLOCK_SIZE;
    }
    memcpy(s->buffer, data, len);
    s->buflen = (uint32_t)len;
}

/* FIPS 180-4 section 5.1.1: append 0x80, zeros to 56 mod 64, then the
 * message length in bits as a big-endian 64-bit integer. */
void sha256_digest(const sha256_state *s, uint8_t out[SHA256_DIGEST_SIZE])
{
    uint32_t h[8];
    uint8_t tail[2 * SHA256_BLOCK_SIZE] = {0};
    size_t tail_len = s->buflen < 56 ? SHA256_BLOCK_SIZE : 2 * SHA256_BLOCK_SIZE;
    uint64_t bits = s->total << 3;
    int i;

    memcpy(h, s->h, sizeof(h));
    memcpy(tail, s->buffer, s->buflen);
    tail[s->buflen] = 0x80;
    store_be32(tail + tail_len - 8, (uint32_t)(bits >> 32));
    store_be32(tail + tail_len - 4, (uint32_t)bits);
    compress(h, tail, tail_len / SHA256_BLOCK_SIZE);
    for (i = 0; i < 8; i++)
        store_be32(out + 4 * i, h[i]);
}
