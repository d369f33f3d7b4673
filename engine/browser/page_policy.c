/* page_policy.c — the allowlist of raw CDP for scripts and the schemes pages
 * may load. A run holds one page in one browser context; everything here
 * keeps it there: no browser-wide domain (Browser, Target, Storage,
 * SystemInfo, Tracing, IO, Memory …), no method that reads local files or
 * other browser contexts' state. And the safe name of a download. */
#include "page_policy.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Domains whose methods act on the page's own session. */
static const char *const DOMAINS[] = {
    "Page",      "Runtime",   "DOM",     "DOMSnapshot", "CSS",         "Input",
    "Network",   "Emulation", "Overlay", "Log",         "Performance", "Accessibility",
    "Animation", "LayerTree", "Console", NULL,
};

/* Methods of those domains that reach past the page, with why. */
static const struct {
    const char *method, *why;
} DENIED[] = {
    {"Page.setDownloadBehavior", "downloads are the engine's to allow"},
    {"Page.close", "the pool closes its pages"},
    {"Page.crash", "the pool's page"},
    {"Page.setInterceptFileChooserDialog", "files are the engine's to give (page:upload)"},
    {"DOM.setFileInputFiles", "use page:upload, which reads only the job's files/ folder"},
    {"Network.loadNetworkResource", "it reads local files"},
    {"Network.clearBrowserCookies", "it clears other runs' cookies"},
    {"Network.clearBrowserCache", "it reaches past the page"},
    {"Network.getAllCookies", "it reads other browser contexts' cookies"},
    {"Network.setRequestInterception", "use page calls"},
    {"Network.continueInterceptedRequest", "use page calls"},
    {"Runtime.terminateExecution", "the engine's"},
    {NULL, NULL},
};

int page_policy_method(const char *method, char *why, size_t len) {
    const char *dot = method ? strchr(method, '.') : NULL;
    if (!dot || dot == method || !dot[1]) {
        snprintf(why, len, "'%s' is not a CDP method (Domain.method)", method ? method : "");
        return 0;
    }
    size_t dn = (size_t)(dot - method);
    int listed = 0;
    for (int i = 0; DOMAINS[i]; i++)
        if (strlen(DOMAINS[i]) == dn && memcmp(DOMAINS[i], method, dn) == 0) listed = 1;
    if (!listed) {
        snprintf(why, len,
                 "%s is not allowed: the %.*s domain reaches past the run's page (scripts may "
                 "call Page, Runtime, DOM, CSS, Input, Network, Emulation and the like)",
                 method, (int)dn, method);
        return 0;
    }
    for (int i = 0; DENIED[i].method; i++)
        if (strcmp(DENIED[i].method, method) == 0) {
            snprintf(why, len, "%s is not allowed: %s", method, DENIED[i].why);
            return 0;
        }
    return 1;
}

int page_policy_scheme_name(const char *s) {
    if (!s || !islower((unsigned char)s[0])) return 0;
    for (const char *p = s; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '+' && *p != '-' &&
            *p != '.')
            return 0;
    return strlen(s) <= 32;
}

int page_policy_url(const char *url, char *const *schemes, int n, char *why, size_t len) {
    static char *const DEFAULTS[] = {"http", "https", "data"};
    char scheme[40];
    size_t i = 0;
    if (!url) url = "";
    while (url[i] == ' ' || url[i] == '\t' || url[i] == '\n' || url[i] == '\r') i++;
    size_t start = i;
    while (url[i] && url[i] != ':' && i - start < sizeof scheme - 1) {
        scheme[i - start] = (char)tolower((unsigned char)url[i]);
        i++;
    }
    scheme[i - start] = '\0';
    if (url[i] != ':' || !page_policy_scheme_name(scheme)) {
        snprintf(why, len, "'%.200s' is not an absolute URL", url);
        return 0;
    }
    if (strcmp(scheme, "about") == 0 && strcmp(url + i + 1, "blank") == 0) return 1;
    if (n == 0) {
        schemes = DEFAULTS;
        n = 3;
    }
    for (int k = 0; k < n; k++)
        if (strcmp(schemes[k], scheme) == 0) return 1;
    snprintf(why, len,
             "%s: URLs are not allowed (%.200s); pages load http, https, data and about:blank "
             "unless engine.conf's browser.schemes allows more",
             scheme, url);
    return 0;
}

/* The length of s cut to at most max bytes, not inside a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n, size_t max) {
    if (n <= max) return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80) max--;
    return max;
}

void page_policy_download_name(const char *suggested, char *out, size_t len) {
    char name[PAGE_POLICY_NAME_MAX * 4 + 1];
    const char *base = suggested ? suggested : "";
    for (const char *p = base; *p; p++)
        if (*p == '/' || *p == '\\') base = p + 1;
    size_t n = 0;
    for (const char *p = base; *p && n < sizeof name - 1; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '.' && (n == 0 || name[n - 1] == '.')) continue; /* leading or repeated */
        if (ch == ' ' && n == 0) continue;
        name[n++] = ch < 0x20 || ch == 0x7f ? '_' : (char)ch;
    }
    while (n > 0 && (name[n - 1] == ' ' || name[n - 1] == '.')) n--;
    name[n] = 0;
    if (n == 0) {
        snprintf(out, len, "download");
        return;
    }
    if (n > PAGE_POLICY_NAME_MAX) { /* keep a short extension, cut the stem */
        const char *dot = strrchr(name, '.');
        size_t ext = dot && name + n - dot <= 16 ? (size_t)(name + n - dot) : 0;
        size_t stem = utf8_cut(name, n - ext, PAGE_POLICY_NAME_MAX - ext);
        memmove(name + stem, name + n - ext, ext);
        n = stem + ext;
        name[n] = 0;
    }
    snprintf(out, len, "%s", name);
}

void page_policy_download_variant(const char *name, int n, char *out, size_t len) {
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) dot = name + strlen(name);
    snprintf(out, len, "%.*s (%d)%s", (int)(dot - name), name, n, dot);
}
