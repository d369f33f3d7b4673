/* test_page_policy.c — what raw page:send may call and which URLs a page may
 * load (docs/jobs.md, "Raw CDP"; docs/security.md). */
#include <string.h>

#include "browser/page_policy.h"
#include "test.h"

TEST(page_policy_lets_the_pages_own_domains_through) {
    char why[512];
    const char *ok[] = {"Runtime.evaluate",
                        "Page.navigate",
                        "Page.reload",
                        "DOM.getDocument",
                        "Input.dispatchKeyEvent",
                        "Network.getCookies",
                        "Network.setCookies",
                        "Emulation.setDeviceMetricsOverride",
                        "CSS.getComputedStyleForNode",
                        "Page.captureScreenshot"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        CHECK(page_policy_method(ok[i], why, sizeof why));
}

TEST(page_policy_refuses_browser_wide_domains_naming_the_method) {
    char why[512];
    const char *no[] = {"Browser.setDownloadBehavior",
                        "Browser.getVersion",
                        "Target.getTargets",
                        "Target.attachToTarget",
                        "Target.sendMessageToTarget",
                        "Storage.getCookies",
                        "SystemInfo.getProcessInfo",
                        "Tracing.start",
                        "IO.read",
                        "Memory.getDOMCounters",
                        "Fetch.enable",
                        "Debugger.enable",
                        "Test.echo"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        CHECK(!page_policy_method(no[i], why, sizeof why));
        CHECK_HAS(why, no[i]);
        CHECK_HAS(why, "not allowed");
    }
}

TEST(page_policy_refuses_methods_of_listed_domains_that_reach_past_the_page) {
    char why[512];
    const char *no[] = {"Page.setDownloadBehavior",
                        "DOM.setFileInputFiles",
                        "Network.loadNetworkResource",
                        "Network.clearBrowserCookies",
                        "Network.getAllCookies",
                        "Page.close",
                        "Page.crash"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        CHECK(!page_policy_method(no[i], why, sizeof why));
        CHECK_HAS(why, no[i]);
    }
    CHECK(!page_policy_method("Runtime", why, sizeof why));
    CHECK_HAS(why, "not a CDP method");
    CHECK(!page_policy_method(".evaluate", why, sizeof why));
    CHECK(!page_policy_method("Runtime.", why, sizeof why));
    CHECK(!page_policy_method("", why, sizeof why));
}

TEST(page_policy_urls_default_to_http_https_data_and_about_blank) {
    char why[512];
    CHECK(page_policy_url("http://127.0.0.1:8080/x", NULL, 0, why, sizeof why));
    CHECK(page_policy_url("HTTPS://example.org/", NULL, 0, why, sizeof why));
    CHECK(page_policy_url("data:text/html,<p>hi", NULL, 0, why, sizeof why));
    CHECK(page_policy_url("about:blank", NULL, 0, why, sizeof why));
    const char *no[] = {"file:///etc/passwd",
                        " file:///etc/shadow",
                        "FILE:///etc/passwd",
                        "chrome://settings",
                        "devtools://devtools",
                        "view-source:http://a/",
                        "javascript:alert(1)",
                        "chrome-extension://x/y",
                        "about:settings",
                        "/relative",
                        "",
                        "no-colon"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        CHECK(!page_policy_url(no[i], NULL, 0, why, sizeof why));
    CHECK(!page_policy_url("file:///etc/passwd", NULL, 0, why, sizeof why));
    CHECK_HAS(why, "file: URLs are not allowed");
    CHECK_HAS(why, "browser.schemes");
}

TEST(page_policy_urls_follow_browser_schemes_when_set) {
    char why[512];
    char *only_https[] = {"https"};
    CHECK(page_policy_url("https://a/", only_https, 1, why, sizeof why));
    CHECK(!page_policy_url("http://a/", only_https, 1, why, sizeof why));
    CHECK(page_policy_url("about:blank", only_https, 1, why, sizeof why)); /* always */
    char *with_file[] = {"http", "https", "file"};
    CHECK(page_policy_url("file:///srv/page.html", with_file, 3, why, sizeof why));
    CHECK(page_policy_scheme_name("https"));
    CHECK(page_policy_scheme_name("chrome-extension"));
    CHECK(!page_policy_scheme_name("HTTPS"));
    CHECK(!page_policy_scheme_name("ht tp"));
    CHECK(!page_policy_scheme_name(""));
}

/* Issue 11: a download lands under its job's folder whatever name the site
 * suggests. */
TEST(page_policy_download_names_are_plain_file_names) {
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"report.csv", "report.csv"},
        {"../../etc/x", "x"},
        {"..\\\\..\\\\boot.ini", "boot.ini"},
        {".bashrc", "bashrc"},
        {"...", "download"},
        {"..", "download"},
        {"", "download"},
        {"dir/", "download"},
        {"a..b...c", "a.b.c"},
        {"  spaced name . ", "spaced name"},
        {"tab\there\nnl\x7f", "tab_here_nl_"},
        {"_.._etc_x", "_._etc_x"},
        {"résumé.pdf", "résumé.pdf"},
    };
    char out[PAGE_POLICY_NAME_MAX + 1];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        page_policy_download_name(cases[i].in, out, sizeof out);
        CHECK_STR(out, cases[i].want);
    }
    page_policy_download_name(NULL, out, sizeof out);
    CHECK_STR(out, "download");
}

TEST(page_policy_download_names_are_cut_keeping_the_extension_and_utf8) {
    char in[1200], out[PAGE_POLICY_NAME_MAX + 1];
    memset(in, 'a', 600);
    strcpy(in + 600, ".tar.gz");
    page_policy_download_name(in, out, sizeof out);
    CHECK_INT(strlen(out), PAGE_POLICY_NAME_MAX);
    CHECK(strcmp(out + PAGE_POLICY_NAME_MAX - 3, ".gz") == 0);
    /* é is two bytes: a cut never leaves half of one */
    for (int i = 0; i < 300; i++) memcpy(in + 2 * i, "\xc3\xa9", 2);
    in[600] = 0;
    page_policy_download_name(in, out, sizeof out);
    CHECK_INT(strlen(out), PAGE_POLICY_NAME_MAX);
    CHECK(((unsigned char)out[PAGE_POLICY_NAME_MAX - 1] & 0xC0) == 0x80);
    CHECK(((unsigned char)out[PAGE_POLICY_NAME_MAX - 2]) == 0xc3);
}

TEST(page_policy_download_variants_number_before_the_extension) {
    char out[300];
    page_policy_download_variant("report.csv", 1, out, sizeof out);
    CHECK_STR(out, "report (1).csv");
    page_policy_download_variant("data", 12, out, sizeof out);
    CHECK_STR(out, "data (12)");
    page_policy_download_variant("a.tar.gz", 2, out, sizeof out);
    CHECK_STR(out, "a.tar (2).gz");
}
