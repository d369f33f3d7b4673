/* page_policy.h — what a script may ask of its page: the CDP methods raw
 * page:send may call (domains of the page itself, less the methods that reach
 * past it) and the URL schemes a page may be sent to. Pure: no I/O, no Lua. */
#ifndef BATON_PAGE_POLICY_H
#define BATON_PAGE_POLICY_H

#include <stddef.h>

/* 1 when a script's raw page:send may call method; else 0 with the reason
 * (one line, naming the method) in why. */
int page_policy_method(const char *method, char *why, size_t len);

/* 1 when a page may navigate to url: about:blank always, else its scheme is
 * one of schemes[0..n) (lower case; n == 0: http, https and data). Else 0
 * with the reason in why. */
int page_policy_url(const char *url, char *const *schemes, int n, char *why, size_t len);

/* The name a download is saved under in its job's folder, from the name the
 * browser suggests (a server's Content-Disposition, the URL, an <a download>):
 * the part after the last '/' or '\\', control characters made '_', runs of
 * dots made one, no leading dots or spaces, at most PAGE_POLICY_NAME_MAX
 * bytes (the extension kept, UTF-8 not cut), "download" when nothing is left.
 * Never ".", "..", a path or a hidden file. out has room for len bytes. */
enum { PAGE_POLICY_NAME_MAX = 200 };
void page_policy_download_name(const char *suggested, char *out, size_t len);

/* The n-th other name for a download whose name is taken (n >= 1):
 * "report.csv" → "report (1).csv", "data" → "data (1)". */
void page_policy_download_variant(const char *name, int n, char *out, size_t len);

/* 1 when s is a scheme name as engine.conf's browser.schemes takes it. */
int page_policy_scheme_name(const char *s);

#endif
