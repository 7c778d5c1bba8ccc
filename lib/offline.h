/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"

/*
 * The offline verifier of a password: argon2id over the password, keyed with
 * the host secret STATE_DIR/host.key (so that a copied record alone cannot be
 * attacked) and bound to the record's subject, with the salt and the cost
 * parameters it was made with, so that a verifier made under other
 * parameters keeps working until the next online login replaces it.
 */

#define OFFLINE_KEY_SIZE 32
#define OFFLINE_SALT_SIZE 16
#define OFFLINE_HASH_SIZE 32

/* Defaults measured at 170-200 ms on a 2-core machine (bench/bench-offline.sh); see cloudauth.conf(5). */
#define OFFLINE_DEFAULT_TIME_COST 4
#define OFFLINE_DEFAULT_MEMORY_MIB 64

/* How many verifications run at once on the host, and how long a login waits for one. */
#define OFFLINE_SLOTS 2
#define OFFLINE_SLOT_WAIT_MS 30000

struct offline_params {
        uint32_t time_cost;   /* argon2 passes, 1..OFFLINE_TIME_COST_MAX */
        uint32_t memory_kib;  /* OFFLINE_MEMORY_KIB_MIN..OFFLINE_MEMORY_KIB_MAX */
        uint32_t parallelism; /* lanes, 1..OFFLINE_PARALLELISM_MAX */
};

#define OFFLINE_TIME_COST_MAX 32
#define OFFLINE_MEMORY_KIB_MIN (8u * 1024)
#define OFFLINE_MEMORY_KIB_MAX (1024u * 1024)
#define OFFLINE_PARALLELISM_MAX 8

struct offline_verifier {
        struct offline_params params;
        uint8_t salt[OFFLINE_SALT_SIZE];
        uint8_t hash[OFFLINE_HASH_SIZE];
        int64_t created; /* when the password was last accepted online */
};

/*
 * The host secret, STATE_DIR/host.key: 32 random bytes, root 0600. With
 * create, made once when missing (two logins creating it at once agree on
 * one). The file is trusted only when open_trusted_file accepts it and it
 * holds exactly the key. -ENOENT without create when missing.
 */
int offline_host_key_load(const char *state_dir, const struct logger *log, bool create,
                          uint8_t ret[OFFLINE_KEY_SIZE]);

/* A new verifier of password for subject (the record's subject key), with a fresh random salt. */
int offline_verifier_make(const uint8_t key[OFFLINE_KEY_SIZE], const char *subject, const char *password,
                          const struct offline_params *params, int64_t now, struct offline_verifier *ret);

/* 1 when password matches v for subject under key, 0 when not (compared in constant time), negative errno. */
int offline_verifier_check(const uint8_t key[OFFLINE_KEY_SIZE], const char *subject, const char *password,
                           const struct offline_verifier *v);

/* The record's form: an object; NULL on allocation failure. */
json_t *offline_verifier_to_json(const struct offline_verifier *v);

/* -EBADMSG when o is not a verifier or its parameters are outside the bounds above; *ret set only on success. */
int offline_verifier_from_json(json_t *o, struct offline_verifier *ret);

/*
 * One of OFFLINE_SLOTS verification slots, STATE_DIR/offline-slot-K, held by
 * an exclusive flock until the returned descriptor is closed; waits up to
 * wait_ms for one to be free (-ETIMEDOUT). *ret_slot is K.
 */
int offline_slot_take(const char *state_dir, const struct logger *log, unsigned wait_ms, unsigned *ret_slot);
