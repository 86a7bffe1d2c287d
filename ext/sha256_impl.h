/* SHA-256 (FIPS 180-4) with a portable compression function and, on x86,
 * one using the SHA extensions, chosen at run time.
 *
 * The state is a plain struct so callers can copy it by assignment and
 * serialise it field by field (see _digest_c.pyx export_state/from_state).
 * No function here allocates, locks or touches Python: all are safe to call
 * without the GIL, but one state must not be used by two threads at once.
 */
#ifndef OCICACHE_SHA256_IMPL_H
#define OCICACHE_SHA256_IMPL_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_BLOCK_SIZE 64
#define SHA256_DIGEST_SIZE 32

typedef struct {
    uint32_t h[8];                       /* chaining value */
    uint64_t total;                      /* bytes hashed so far, buffered ones included */
    uint8_t buffer[SHA256_BLOCK_SIZE];   /* the partial block: first buflen bytes */
    uint32_t buflen;                     /* always total % 64 */
} sha256_state;

/* Pick the compression function: the SHA extensions when allow_accelerated
 * is non-zero and the CPU has them, else the portable one. Returns "sha-ni"
 * or "portable". Call once, before hashing (the module init does). */
const char *sha256_select_backend(int allow_accelerated);

/* Reset *s to the SHA-256 initial value with nothing hashed. */
void sha256_init(sha256_state *s);

/* Hash len bytes at data into *s. */
void sha256_update(sha256_state *s, const uint8_t *data, size_t len);

/* Write the digest of everything hashed so far to out; *s is not changed. */
void sha256_digest(const sha256_state *s, uint8_t out[SHA256_DIGEST_SIZE]);

#endif
