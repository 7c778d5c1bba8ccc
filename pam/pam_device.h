/* SPDX-License-Identifier: MIT */
#pragma once

#include <security/pam_modules.h>

#include "config.h"
#include "log.h"
#include "login.h"

/*
 * Run the device flow for user over the PAM conversation and fill *ret like
 * login_password does. Returns PAM_SUCCESS when *ret holds a verdict, else
 * a PAM error (conversation failed, out of memory).
 */
int pam_device_login(pam_handle_t *pamh, const struct cloudauth_config *c, const struct logger *log, const char *user,
                     struct login_result *ret);
