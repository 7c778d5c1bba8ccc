/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

/*
 * Deterministic ids, the same on every host with the same configuration
 * (documented in cloudauth.conf(5) so other tools can reproduce them):
 *
 *   d   = SHA-256("cloudauth-uid-v1\n" SCOPE "\n" NAME)     for users
 *   d   = SHA-256("cloudauth-gid-v1\n" SCOPE "\n" NAME)     for IdP groups
 *   id  = MIN + (first 8 bytes of d, big-endian) mod (MAX - MIN + 1)
 *
 * SCOPE is the configured issuer exactly as written in [provider] issuer,
 * NAME the lowercased IdP user name (alice@example.com) or group name.
 * No OpenSSL: the NSS module computes these too.
 */
uint32_t uidmap_user_uid(const char *scope, const char *idp_name, uint32_t min, uint32_t max);
uint32_t uidmap_group_gid(const char *scope, const char *group_name, uint32_t min, uint32_t max);
