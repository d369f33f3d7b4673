/* secret.h — the engine's secrets: the names engine.conf declares, their
 * values once read (baton run) or faked (baton test), and the one redaction
 * every sink applies, so that a value never leaves the process in anything the
 * engine writes. One table per process: secrets are the process's own, like
 * its environment. Not thread-safe; everything runs on the loop's thread. */
#ifndef BATON_SECRET_H
#define BATON_SECRET_H

#include <stddef.h>

enum { SECRET_NAME_MAX = 63, SECRET_MAX = 64 };

/* What replaces a value: "[secret:NAME]". */
#define SECRET_MARK_FMT "[secret:%s]"

/* 1 when name is 1-63 of [A-Za-z0-9_.-] starting with a letter or '_'. */
int secret_name_ok(const char *name);

/* Declares name (no value yet). 0, -EEXIST when declared already, -EINVAL
 * for a bad name, -ENOSPC past SECRET_MAX. */
int secret_declare(const char *name);

/* 1 when name is declared. */
int secret_declared(const char *name);

/* The declared names, in the order declared; NULL past the last. */
const char *secret_name(size_t i);

/* Sets the value of a declared name (copied; "" is a value). From now on
 * secret_redact replaces it, and its JSON- and URL-encoded forms, by the mark.
 * 0, -ENOENT (not declared) or -ENOMEM. */
int secret_set(const char *name, const char *value, size_t len);

/* The value of name: 0 with *value (NUL-terminated, *len bytes), -ENOENT when
 * name is not declared, -ENODATA when it has no value. */
int secret_get(const char *name, const char **value, size_t *len);

/* Forgets every value, keeping the names (baton test, between tests). */
void secret_unset_all(void);

/* Forgets names and values. */
void secret_reset(void);

/* 1 when some value is set: the sinks' fast path. */
int secret_any(void);

/* A copy of s[0..len) with every value replaced by its mark, malloc'd and
 * NUL-terminated (*outlen bytes), or NULL when there is nothing to replace
 * (or no memory: then the caller must not write s; see secret_redact_or_drop). */
char *secret_redact(const char *s, size_t len, size_t *outlen);

/* What a sink writes: s itself when nothing matched, else a redacted copy that
 * *freeme holds (the caller frees it), or a fixed "[redacted: out of memory]"
 * when a copy could not be made: a value is never let through. */
const char *secret_redact_or_drop(const char *s, size_t len, size_t *outlen, char **freeme);

#endif
