/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "identity.h"

/*
 * Resolve the roles of an identity: a role applies when one of its groups is
 * in the identity's groups or one of its app_roles is in its app roles; an
 * applying role brings every role it includes (transitively). Result is a
 * sorted, de-duplicated NULL-terminated vector.
 */
int roles_resolve(const struct cloudauth_config *c, const struct identity *id, char ***ret);

/*
 * The access policy of [access]: nobody is allowed while allow_users,
 * allow_groups and allow_roles are all empty; "*" in allow_users allows all.
 * Sets *ret_allowed and a static *ret_reason ("listed in allow_users",
 * "member of an allowed group", "has an allowed role", "no access rule is
 * configured", "not in allow_users, allow_groups or allow_roles").
 */
int access_check(const struct cloudauth_config *c, const struct identity *id, char *const *roles,
                 bool *ret_allowed, const char **ret_reason);
