/* secret.c — the table of secrets and the redaction of their values. Each
 * value is matched in three spellings: as it is, JSON-escaped (as it reads in
 * a stored result or an API answer) and percent-encoded (as it reads in a
 * URL); the longest spelling that matches at a place wins. */
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SECRET_FORMS = 3 };

typedef struct secret_form {
    char *text; /* NULL: the same as an earlier form, or no value */
    size_t len;
} secret_form_t;

typedef struct secret {
    char name[SECRET_NAME_MAX + 1];
    char *value; /* NULL: unset */
    size_t len;
    secret_form_t forms[SECRET_FORMS]; /* raw, JSON, URL */
} secret_t;

static secret_t table[SECRET_MAX];
static size_t ntable, nset;
static unsigned char first_byte[256]; /* a form starts with this byte */

int secret_name_ok(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > SECRET_NAME_MAX) return 0;
    if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') ||
          name[0] == '_'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

static secret_t *find(const char *name) {
    for (size_t i = 0; i < ntable; i++)
        if (strcmp(table[i].name, name) == 0) return &table[i];
    return NULL;
}

int secret_declare(const char *name) {
    if (!secret_name_ok(name)) return -EINVAL;
    if (find(name)) return -EEXIST;
    if (ntable == SECRET_MAX) return -ENOSPC;
    secret_t *s = &table[ntable++];
    memset(s, 0, sizeof *s);
    memcpy(s->name, name, strlen(name) + 1);
    return 0;
}

int secret_declared(const char *name) { return name && find(name) != NULL; }

const char *secret_name(size_t i) { return i < ntable ? table[i].name : NULL; }

static void forms_free(secret_t *s) {
    for (int f = 0; f < SECRET_FORMS; f++) free(s->forms[f].text);
    memset(s->forms, 0, sizeof s->forms);
}

static void rebuild_first_bytes(void) {
    memset(first_byte, 0, sizeof first_byte);
    for (size_t i = 0; i < ntable; i++)
        for (int f = 0; f < SECRET_FORMS; f++)
            if (table[i].forms[f].text) first_byte[(unsigned char)table[i].forms[f].text[0]] = 1;
}

/* The value as a JSON string's inside reads (without quotes), as cJSON and the
 * engine's encoder write it. */
static char *json_form(const char *v, size_t len, size_t *out) {
    char *s = malloc(len * 6 + 1), *p = s;
    if (!s) return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        const char *esc = c == '"'    ? "\\\""
                          : c == '\\' ? "\\\\"
                          : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t"
                          : c == '\b' ? "\\b"
                          : c == '\f' ? "\\f"
                                      : NULL;
        if (esc) {
            size_t n = strlen(esc);
            memcpy(p, esc, n);
            p += n;
        } else if (c < 0x20) {
            p += sprintf(p, "\\u%04x", c);
        } else {
            *p++ = (char)c;
        }
    }
    *p = 0;
    *out = (size_t)(p - s);
    return s;
}

/* The value percent-encoded (RFC 3986 unreserved characters kept). */
static char *url_form(const char *v, size_t len, size_t *out) {
    static const char hex[] = "0123456789ABCDEF";
    char *s = malloc(len * 3 + 1), *p = s;
    if (!s) return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = 0;
    *out = (size_t)(p - s);
    return s;
}

int secret_set(const char *name, const char *value, size_t len) {
    secret_t *s = find(name);
    if (!s) return -ENOENT;
    char *copy = malloc(len + 1);
    if (!copy) return -ENOMEM;
    memcpy(copy, value, len);
    copy[len] = 0;
    secret_form_t forms[SECRET_FORMS] = {{0}};
    if (len) {
        forms[0].text = malloc(len + 1);
        forms[1].text = json_form(value, len, &forms[1].len);
        forms[2].text = url_form(value, len, &forms[2].len);
        if (!forms[0].text || !forms[1].text || !forms[2].text) {
            for (int f = 0; f < SECRET_FORMS; f++) free(forms[f].text);
            free(copy);
            return -ENOMEM;
        }
        memcpy(forms[0].text, value, len + 1);
        forms[0].len = len;
        for (int f = 1; f < SECRET_FORMS; f++)
            for (int g = 0; g < f; g++)
                if (forms[f].text && forms[g].text && forms[f].len == forms[g].len &&
                    memcmp(forms[f].text, forms[g].text, forms[f].len) == 0) {
                    free(forms[f].text);
                    forms[f].text = NULL;
                    break;
                }
    }
    if (!s->value) nset++;
    free(s->value);
    forms_free(s);
    s->value = copy;
    s->len = len;
    memcpy(s->forms, forms, sizeof forms);
    rebuild_first_bytes();
    return 0;
}

int secret_get(const char *name, const char **value, size_t *len) {
    const secret_t *s = name ? find(name) : NULL;
    if (!s) return -ENOENT;
    if (!s->value) return -ENODATA;
    *value = s->value;
    if (len) *len = s->len;
    return 0;
}

void secret_unset_all(void) {
    for (size_t i = 0; i < ntable; i++) {
        free(table[i].value);
        table[i].value = NULL;
        table[i].len = 0;
        forms_free(&table[i]);
    }
    nset = 0;
    rebuild_first_bytes();
}

void secret_reset(void) {
    secret_unset_all();
    ntable = 0;
}

int secret_any(void) { return nset > 0; }

/* The longest form that starts at p (before end), or NULL. */
static const secret_t *match(const char *p, const char *end, size_t *mlen) {
    const secret_t *best = NULL;
    *mlen = 0;
    for (size_t i = 0; i < ntable; i++)
        for (int f = 0; f < SECRET_FORMS; f++) {
            const secret_form_t *fm = &table[i].forms[f];
            if (fm->text && fm->len > *mlen && (size_t)(end - p) >= fm->len &&
                memcmp(p, fm->text, fm->len) == 0) {
                best = &table[i];
                *mlen = fm->len;
            }
        }
    return best;
}

char *secret_redact(const char *s, size_t len, size_t *outlen) {
    if (!nset || !s) return NULL;
    const char *end = s + len;
    size_t need = 0, found = 0, mlen;
    for (const char *p = s; p < end;) {
        const secret_t *m = first_byte[(unsigned char)*p] ? match(p, end, &mlen) : NULL;
        if (m) {
            need += strlen(m->name) + sizeof "[secret:]" - 1;
            found++;
            p += mlen;
        } else {
            need++;
            p++;
        }
    }
    if (!found) return NULL;
    char *out = malloc(need + 1), *o = out;
    if (!out) return NULL;
    for (const char *p = s; p < end;) {
        const secret_t *m = first_byte[(unsigned char)*p] ? match(p, end, &mlen) : NULL;
        if (m) {
            o += sprintf(o, SECRET_MARK_FMT, m->name);
            p += mlen;
        } else {
            *o++ = *p++;
        }
    }
    *o = 0;
    if (outlen) *outlen = (size_t)(o - out);
    return out;
}

const char *secret_redact_or_drop(const char *s, size_t len, size_t *outlen, char **freeme) {
    static const char dropped[] = "[redacted: out of memory]";
    *freeme = NULL;
    if (outlen) *outlen = len;
    if (!nset || !s) return s;
    /* Tell "nothing matched" from "no memory": redact scans before it allocates. */
    char *r = secret_redact(s, len, outlen);
    if (r) return *freeme = r;
    const char *end = s + len;
    size_t mlen;
    for (const char *p = s; p < end; p++)
        if (first_byte[(unsigned char)*p] && match(p, end, &mlen)) {
            if (outlen) *outlen = sizeof dropped - 1;
            return dropped;
        }
    if (outlen) *outlen = len;
    return s;
}
