/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the subcommands read from the command line, one way each: files the
 * user named, hex values, trust anchors, the verification time. Errors are
 * logged naming the option or file and return -EINVAL (exit 2), so a command
 * can pass them straight up.
 */
#ifndef CVM_AGENT_ARGS_H
#define CVM_AGENT_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

/*
 * Reads the file path that the user named as what ("TD quote", "--pcrs", ...)
 * with the evidence size cap. *ret is malloc'ed with a NUL after the data.
 * -EINVAL (logged: missing, unreadable, larger than the cap), -ENOMEM.
 */
int agent_read_file(const char *what, const char *path, uint8_t **ret, size_t *ret_len);

/*
 * Reads a token (JWT) file the user named, as agent_read_file("token", ...),
 * without trailing blanks (a token saved by `echo` ends in a newline).
 */
int agent_read_token(const char *path, uint8_t **ret, size_t *ret_len);

/*
 * Decodes the hex value s of option opt into out (at most max bytes; exactly
 * max when exact). -EINVAL (logged, naming the option and what it wants).
 */
int agent_parse_hex(const char *opt, const char *s, uint8_t *out, size_t max, bool exact,
                    size_t *ret_len);

/* Moves the certificates of from to the end of to (from ends empty). */
int agent_move_certs(STACK_OF(X509) * to, STACK_OF(X509) * from);

/* Loads every certificate (PEM, several per file, or one DER) of the files in
 * paths (NULL-terminated; NULL = none). *ret is NULL when paths is empty. */
int agent_load_anchors(const char *const *paths, STACK_OF(X509) * *ret);

/*
 * The "trust_anchor" value of a result: "production" when anchors is empty,
 * else "non-production: SUBJECT[; SUBJECT...]". Malloc'ed; NULL on OOM.
 */
char *agent_trust_anchor_string(const STACK_OF(X509) * anchors);

/*
 * Says on stderr, whatever the log level, that a non-production anchor is in
 * use. Called on every run that uses one, so -q cannot hide it.
 */
void agent_announce_anchors(const char *description);

/* seconds since the epoch as RFC 3339 UTC ("2024-06-01T00:00:00Z") */
void agent_format_time(int64_t t, char buf[static 32]);

#endif
