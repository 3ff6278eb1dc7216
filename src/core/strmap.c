/*
 * strmap.c -- open-addressing hash map from borrowed strings to pointers.
 *
 * HOW IT WORKS.  Slots hold (hash, key, value); an empty slot has key NULL.
 * Lookup probes linearly from hash & mask.  The table doubles when it would
 * pass 70% full, so probe sequences stay short.  Deletion uses backward-shift
 * (each following entry whose home slot is at or before the hole moves back),
 * so there are no tombstones and lookups never degrade after churn.
 *
 * Invariants: cap is a power of two >= 16; count < cap * 0.7; every entry is
 * reachable from its home slot without crossing an empty slot.
 */
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "deconflict/core.h"

#define STRMAP_MIN_CAP 16u
#define STRMAP_MAX_CAP (1u << 31)

typedef struct {
    uint64_t hash;
    const char *key;
    void *value;
} slot_t;

struct dcf_strmap_s {
    slot_t *slots;
    size_t cap; /* power of two */
    size_t count;
    unsigned char hkey[crypto_shorthash_KEYBYTES];
};

static uint64_t hash_key(const dcf_strmap_t *m, const char *key) {
    unsigned char out[crypto_shorthash_BYTES];
    uint64_t h;
    crypto_shorthash(out, (const unsigned char *)key, strlen(key), m->hkey);
    memcpy(&h, out, sizeof h);
    return h;
}

int dcf_strmap_new(dcf_strmap_t **out) {
    dcf_strmap_t *m = NULL;
    if (sodium_init() < 0)
        return DCF_EINTERNAL;
    m = calloc(1, sizeof *m);
    if (m == NULL)
        return DCF_ENOMEM;
    m->slots = calloc(STRMAP_MIN_CAP, sizeof *m->slots);
    if (m->slots == NULL) {
        free(m);
        return DCF_ENOMEM;
    }
    m->cap = STRMAP_MIN_CAP;
    randombytes_buf(m->hkey, sizeof m->hkey);
    *out = m;
    return DCF_OK;
}

void dcf_strmap_free(dcf_strmap_t *m) {
    if (m == NULL)
        return;
    free(m->slots);
    free(m);
}

/* Index of the slot holding `key`, or of the empty slot where it would go. */
static size_t find_slot(const dcf_strmap_t *m, const char *key, uint64_t h) {
    size_t mask = m->cap - 1;
    size_t i = (size_t)h & mask;
    while (m->slots[i].key != NULL) {
        if (m->slots[i].hash == h && strcmp(m->slots[i].key, key) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

/* Rehash into ncap slots (a power of two larger than cap). */
static int grow_to(dcf_strmap_t *m, size_t ncap) {
    slot_t *ns;
    if (ncap > STRMAP_MAX_CAP)
        return DCF_ELIMIT;
    ns = calloc(ncap, sizeof *ns);
    if (ns == NULL)
        return DCF_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key == NULL)
            continue;
        size_t j = (size_t)m->slots[i].hash & (ncap - 1);
        while (ns[j].key != NULL)
            j = (j + 1) & (ncap - 1);
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return DCF_OK;
}

int dcf_strmap_reserve(dcf_strmap_t *m, size_t n) {
    size_t ncap = m->cap;
    if (n > STRMAP_MAX_CAP / 10 * 7) /* more than the largest table holds */
        return DCF_ELIMIT;
    while (n * 10 > ncap * 7) {
        if (ncap >= STRMAP_MAX_CAP)
            return DCF_ELIMIT;
        ncap *= 2;
    }
    return ncap == m->cap ? DCF_OK : grow_to(m, ncap);
}

/* Insert (key, value); an existing key is replaced when `replace`, else
 * left alone with DCF_EEXIST. */
static int insert(dcf_strmap_t *m, const char *key, void *value, bool replace) {
    uint64_t h = hash_key(m, key);
    size_t i = find_slot(m, key, h);
    if (m->slots[i].key != NULL) {
        if (!replace)
            return DCF_EEXIST;
        m->slots[i].value = value;
        m->slots[i].key = key;
        return DCF_OK;
    }
    if ((m->count + 1) * 10 > m->cap * 7) {
        int rc = grow_to(m, m->cap * 2);
        if (rc != DCF_OK)
            return rc;
        i = find_slot(m, key, h);
    }
    m->slots[i] = (slot_t){.hash = h, .key = key, .value = value};
    m->count++;
    return DCF_OK;
}

int dcf_strmap_put(dcf_strmap_t *m, const char *key, void *value) {
    return insert(m, key, value, true);
}

int dcf_strmap_add(dcf_strmap_t *m, const char *key, void *value) {
    return insert(m, key, value, false);
}

void *dcf_strmap_get(const dcf_strmap_t *m, const char *key) {
    size_t i = find_slot(m, key, hash_key(m, key));
    return m->slots[i].key != NULL ? m->slots[i].value : NULL;
}

void *dcf_strmap_del(dcf_strmap_t *m, const char *key) {
    size_t mask = m->cap - 1;
    size_t i = find_slot(m, key, hash_key(m, key));
    void *old;
    if (m->slots[i].key == NULL)
        return NULL;
    old = m->slots[i].value;
    /* Backward-shift: pull later entries of the same run into the hole when
     * the hole lies on their probe path (between home and current slot). */
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (m->slots[j].key == NULL)
            break;
        size_t home = (size_t)m->slots[j].hash & mask;
        size_t dist_j = (j - home) & mask;
        size_t dist_hole = (hole - home) & mask;
        if (dist_hole <= dist_j) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole] = (slot_t){0};
    m->count--;
    return old;
}

void dcf_strmap_each(const dcf_strmap_t *m, void (*fn)(void *arg, const char *key, void *value),
                     void *arg) {
    for (size_t i = 0; m != NULL && i < m->cap; i++)
        if (m->slots[i].key != NULL)
            fn(arg, m->slots[i].key, m->slots[i].value);
}

size_t dcf_strmap_count(const dcf_strmap_t *m) {
    return m->count;
}
