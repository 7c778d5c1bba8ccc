/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "macro.h"
#include "secret.h"
#include "tokenbox.h"

#define NONCE_SIZE 12
#define TAG_SIZE 16
#define KEY_SIZE 32
#define LABEL "cloudauth refresh token v1"

static int derive_key(const uint8_t host_key[OFFLINE_KEY_SIZE], uint8_t ret[KEY_SIZE]) {
        EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
        EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
        OSSL_PARAM params[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *) "SHA256", 0),
                OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *) host_key, OFFLINE_KEY_SIZE),
                OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *) LABEL, strlen(LABEL)),
                OSSL_PARAM_construct_end(),
        };
        int r = ctx && EVP_KDF_derive(ctx, ret, KEY_SIZE, params) == 1 ? 0 : -EIO;

        EVP_KDF_CTX_free(ctx);
        EVP_KDF_free(kdf);
        return r;
}

/* "subject\nuid": the subject key holds no newline (see cache_subject_key). */
static int associated_data(const char *subject, uint32_t uid, char **ret) {
        if (!subject || strchr(subject, '\n'))
                return -EINVAL;
        return asprintf(ret, "%s\n%u", subject, uid) < 0 ? -ENOMEM : 0;
}

/* One AES-256-GCM pass: encrypt (tag written) or decrypt (tag checked). */
static int gcm(bool encrypt, const uint8_t key[KEY_SIZE], const uint8_t nonce[NONCE_SIZE], const char *ad,
               const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[TAG_SIZE]) {
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int n = 0, ok;

        if (!ctx)
                return -ENOMEM;
        ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) == 1 &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_SIZE, NULL) == 1 &&
             EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, encrypt) == 1 &&
             EVP_CipherUpdate(ctx, NULL, &n, (const uint8_t *) ad, (int) strlen(ad)) == 1 &&
             EVP_CipherUpdate(ctx, out, &n, in, (int) len) == 1 &&
             (encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_SIZE, tag) == 1) &&
             EVP_CipherFinal_ex(ctx, out + n, &n) == 1 &&
             (!encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_SIZE, tag) == 1);
        EVP_CIPHER_CTX_free(ctx);
        return ok ? 0 : encrypt ? -EIO : -EBADMSG;
}

int tokenbox_seal(const uint8_t host_key[OFFLINE_KEY_SIZE], const char *subject, uint32_t uid, const char *token,
                  char **ret) {
        _cleanup_free_ char *ad = NULL;
        uint8_t key[KEY_SIZE], *box;
        size_t len, total;
        int r;

        if (!host_key || !token || !ret)
                return -EINVAL;
        len = strlen(token);
        if (len == 0 || len > TOKENBOX_PLAINTEXT_MAX)
                return -EINVAL;
        if ((r = associated_data(subject, uid, &ad)) < 0)
                return r;
        total = NONCE_SIZE + len + TAG_SIZE;
        box = malloc(total);
        if (!box)
                return -ENOMEM;
        if (RAND_bytes(box, NONCE_SIZE) != 1) {
                free(box);
                return -EIO;
        }
        if ((r = derive_key(host_key, key)) >= 0)
                r = gcm(true, key, box, ad, (const uint8_t *) token, len, box + NONCE_SIZE, box + NONCE_SIZE + len);
        secret_wipe(key, sizeof(key));
        if (r >= 0)
                r = base64url_encode(box, total, ret);
        free(box);
        return r;
}

int tokenbox_open(const uint8_t host_key[OFFLINE_KEY_SIZE], const char *subject, uint32_t uid, const char *sealed,
                  char **ret) {
        _cleanup_free_ char *ad = NULL;
        _cleanup_free_ uint8_t *box = NULL;
        uint8_t key[KEY_SIZE];
        char *plain;
        size_t total, len;
        int r;

        if (!host_key || !sealed || !ret)
                return -EINVAL;
        if ((r = associated_data(subject, uid, &ad)) < 0)
                return r;
        if (strlen(sealed) > 2 * (NONCE_SIZE + TOKENBOX_PLAINTEXT_MAX + TAG_SIZE))
                return -EBADMSG;
        r = base64url_decode(sealed, strlen(sealed), &box, &total);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || total <= NONCE_SIZE + TAG_SIZE || total > NONCE_SIZE + TOKENBOX_PLAINTEXT_MAX + TAG_SIZE)
                return -EBADMSG;
        len = total - NONCE_SIZE - TAG_SIZE;
        plain = malloc(len + 1);
        if (!plain)
                return -ENOMEM;
        if ((r = derive_key(host_key, key)) >= 0)
                r = gcm(false, key, box, ad, box + NONCE_SIZE, len, (uint8_t *) plain, box + NONCE_SIZE + len);
        secret_wipe(key, sizeof(key));
        if (r < 0 || memchr(plain, 0, len)) {
                secret_wipe(plain, len);
                free(plain);
                return r < 0 ? r : -EBADMSG;
        }
        plain[len] = 0;
        *ret = plain;
        return 0;
}
