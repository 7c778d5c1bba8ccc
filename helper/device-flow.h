/* SPDX-License-Identifier: MIT */
#pragma once

#include "config.h"
#include "helper.h"
#include "login.h"

/*
 * The device flow over the module's conversation. sshd's keyboard-interactive
 * shows info text only together with a prompt, so the code, the link and the
 * QR code go out with a "press Enter once you have signed in" prompt that
 * stays open while the helper polls the token endpoint. PROTO_CODE_SUCCESS
 * when *ret holds a verdict (as login_password fills it), else why not: the
 * conversation failed or reached end of input (PROTO_CODE_CONV_ERR), out of
 * memory.
 */
enum proto_code device_flow_login(struct helper *h, const struct cloudauth_config *c, struct login_result *ret);
