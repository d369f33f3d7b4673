/* test_secret.c — the secrets table and redaction: names, values, every
 * spelling of a value replaced by its mark (inside longer text, side by side,
 * the longest first), values forgotten, and nothing replaced when none is set. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/secret.h"
#include "test.h"

static char *redact(const char *s) {
    size_t n = 0;
    char *r = secret_redact(s, strlen(s), &n);
    if (r) CHECK_INT((long)strlen(r), (long)n);
    return r;
}

TEST(secret_names_are_checked_and_declared_once) {
    secret_reset();
    CHECK(secret_name_ok("openai"));
    CHECK(secret_name_ok("tw.api_key-2"));
    CHECK(!secret_name_ok(""));
    CHECK(!secret_name_ok("2fa"));
    CHECK(!secret_name_ok("a b"));
    CHECK(!secret_name_ok("x\n"));
    CHECK_INT(secret_declare("openai"), 0);
    CHECK_INT(secret_declare("openai"), -EEXIST);
    CHECK_INT(secret_declare("bad name"), -EINVAL);
    CHECK(secret_declared("openai"));
    CHECK(!secret_declared("other"));
    CHECK_STR(secret_name(0), "openai");
    CHECK(secret_name(1) == NULL);
    const char *v;
    CHECK_INT(secret_get("openai", &v, NULL), -ENODATA);
    CHECK_INT(secret_get("other", &v, NULL), -ENOENT);
    CHECK_INT(secret_set("other", "x", 1), -ENOENT);
    secret_reset();
}

TEST(secret_redact_replaces_every_spelling_inside_longer_text) {
    secret_reset();
    CHECK_INT(secret_declare("openai"), 0);
    CHECK_INT(secret_declare("tw"), 0);
    CHECK(redact("sk-123") == NULL); /* nothing set: nothing to do */
    CHECK(!secret_any());
    CHECK_INT(secret_set("openai", "sk-123", 6), 0);
    CHECK_INT(secret_set("tw", "p\"a/s s&", 8), 0);
    CHECK(secret_any());
    const char *v;
    size_t n;
    CHECK_INT(secret_get("tw", &v, &n), 0);
    CHECK_INT((long)n, 8);
    CHECK_STR(v, "p\"a/s s&");

    char *r = redact("Bearer sk-123, again sk-123sk-123.");
    CHECK_STR(r, "Bearer [secret:openai], again [secret:openai][secret:openai].");
    free(r);
    r = redact("{\"error\":\"bad key p\\\"a/s s&\"}"); /* as JSON writes it */
    CHECK_STR(r, "{\"error\":\"bad key [secret:tw]\"}");
    free(r);
    r = redact("GET https://x/?k=p%22a%2Fs%20s%26&z=1"); /* as a URL carries it */
    CHECK_STR(r, "GET https://x/?k=[secret:tw]&z=1");
    free(r);
    r = redact("raw p\"a/s s& too");
    CHECK_STR(r, "raw [secret:tw] too");
    free(r);
    CHECK(redact("sk-12 and sk_123 are not it") == NULL);
    secret_reset();
}

TEST(secret_redact_takes_the_longest_value_first) {
    secret_reset();
    CHECK_INT(secret_declare("short"), 0);
    CHECK_INT(secret_declare("long"), 0);
    CHECK_INT(secret_set("short", "abc", 3), 0);
    CHECK_INT(secret_set("long", "abcdef", 6), 0);
    char *r = redact("xabcdefx abcx");
    CHECK_STR(r, "x[secret:long]x [secret:short]x");
    free(r);
    secret_reset();
}

TEST(secret_values_are_forgotten_and_replaced) {
    secret_reset();
    CHECK_INT(secret_declare("k"), 0);
    CHECK_INT(secret_set("k", "one-value", 9), 0);
    CHECK_INT(secret_set("k", "two-value", 9), 0); /* replaces: only the new is redacted */
    char *r = redact("one-value two-value");
    CHECK_STR(r, "one-value [secret:k]");
    free(r);
    CHECK_INT(secret_set("k", "", 0), 0); /* an empty value matches nothing */
    CHECK(redact("anything") == NULL);
    const char *v;
    CHECK_INT(secret_get("k", &v, NULL), 0);
    CHECK_STR(v, "");
    CHECK_INT(secret_set("k", "zz-top", 6), 0);
    secret_unset_all();
    CHECK(!secret_any());
    CHECK(secret_declared("k"));
    CHECK(redact("zz-top") == NULL);
    CHECK_INT(secret_get("k", &v, NULL), -ENODATA);
    secret_reset();
}

TEST(secret_redact_or_drop_hands_back_the_text_itself_when_clean) {
    secret_reset();
    CHECK_INT(secret_declare("k"), 0);
    CHECK_INT(secret_set("k", "hunter2", 7), 0);
    char *freeme;
    size_t n;
    const char *s = "nothing here";
    CHECK(secret_redact_or_drop(s, strlen(s), &n, &freeme) == s);
    CHECK(freeme == NULL);
    CHECK_INT((long)n, (long)strlen(s));
    s = "pw=hunter2";
    const char *out = secret_redact_or_drop(s, strlen(s), &n, &freeme);
    CHECK_STR(out, "pw=[secret:k]");
    CHECK(out == freeme);
    free(freeme);
    secret_reset();
}
