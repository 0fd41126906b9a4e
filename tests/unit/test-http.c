/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The HTTP client against a local server (tests/unit/http-test-server.py) that
 * answers with 429, 5xx, slow and oversized responses on demand.
 */
#include "config.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/test-helpers.h"

#include "common/http.h"
#include "common/util.h"

static pid_t server_pid = -1;
static int http_port, https_port;
static char workdir[] = "/tmp/cvm-test-http.XXXXXX";
static char ca_file[4200];

static int start_server(void **state) {
    (void)state;
    char port_file[4200], script[4200];
    if (!mkdtemp(workdir))
        return -1;
    snprintf(port_file, sizeof(port_file), "%s/ports", workdir);
    snprintf(ca_file, sizeof(ca_file), "%s/ca.pem", workdir);
    snprintf(script, sizeof(script), "%s/tests/unit/http-test-server.py", TEST_SRCDIR);
    server_pid = fork();
    if (server_pid < 0)
        return -1;
    if (server_pid == 0) {
        execl("/usr/bin/python3", "python3", script, "--port-file", port_file, "--ca-file", ca_file,
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(port_file, "re");
        if (f) {
            int n = fscanf(f, "%d %d", &http_port, &https_port);
            fclose(f);
            if (n == 2)
                return 0;
        }
        if (waitpid(server_pid, NULL, WNOHANG) == server_pid)
            break;
        usleep(50000);
    }
    fprintf(stderr, "test HTTP server did not start\n");
    return -1;
}

static int stop_server(void **state) {
    (void)state;
    char cmd[4300];
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", workdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Fast retries so the suite stays quick; each test overrides what it checks. */
static HttpConfig test_config(void) {
    return (HttpConfig){
        .timeout_ms = 5000,
        .deadline_ms = 20000,
        .max_attempts = 4,
        .backoff_initial_ms = 20,
        .backoff_max_ms = 100,
        .allow_plain_http_loopback = true,
    };
}

static char *url(const char *path) {
    static char buf[256];
    snprintf(buf, sizeof(buf), "http://127.0.0.1:%d%s", http_port, path);
    return buf;
}

static int get(const HttpConfig *cfg, const char *u, HttpResponse *resp, HttpError *err) {
    HttpRequest req = {.url = u};
    return http_request(cfg, &req, resp, err);
}

static long count_for(const char *key) {
    HttpConfig cfg = test_config();
    HttpResponse resp = {0};
    char path[64];
    snprintf(path, sizeof(path), "/count/%s", key);
    assert_int_equal(get(&cfg, url(path), &resp, NULL), 0);
    long n = strtol((const char *)resp.body, NULL, 10);
    http_response_done(&resp);
    return n;
}

static void test_ok(void **state) {
    (void)state;
    HttpConfig cfg = test_config();
    HttpResponse resp = {0};
    HttpError err = {0};
    assert_int_equal(get(&cfg, url("/ok"), &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body_len, 5);
    assert_string_equal((const char *)resp.body, "hello");
    assert_string_equal(resp.content_type, "text/plain");
    http_response_done(&resp);
    http_error_done(&err);
}

static void test_post_headers_body(void **state) {
    (void)state;
    HttpConfig cfg = test_config();
    HttpResponse resp = {0};
    const char *headers[] = {"Content-Type: application/json", "Metadata: true", NULL};
    HttpRequest req = {.url = url("/echo"), .headers = headers, .body = "{\"a\":1}", .body_len = 7};
    assert_int_equal(http_request(&cfg, &req, &resp, NULL), 0);
    assert_non_null(strstr((const char *)resp.body, "\"method\": \"POST\""));
    assert_non_null(strstr((const char *)resp.body, "\"body\": \"{\\\"a\\\":1}\""));
    assert_non_null(strstr((const char *)resp.body, "\"metadata\": \"true\""));
    assert_non_null(strstr((const char *)resp.body, "\"content-type\": \"application/json\""));
    http_response_done(&resp);

    req = (HttpRequest){.method = "PUT", .url = url("/echo"), .body = "", .body_len = 0};
    assert_int_equal(http_request(&cfg, &req, &resp, NULL), 0);
    assert_non_null(strstr((const char *)resp.body, "\"method\": \"PUT\""));
    http_response_done(&resp);
}

static void test_retry_5xx_then_success(void **state) {
    (void)state;
    HttpConfig cfg = test_config();
    HttpResponse resp = {0};
    HttpError err = {0};
    assert_int_equal(get(&cfg, url("/flaky/k503/2/503"), &resp, &err), 0);
    assert_string_equal((const char *)resp.body, "recovered");
    assert_int_equal(count_for("k503"), 3);
    http_response_done(&resp);
    http_error_done(&err);
}

static void test_5xx_gives_up(void **state) {
    (void)state;
    HttpConfig cfg = test_config();
    HttpResponse resp = {0};
    HttpError err = {0};
    assert_int_equal(get(&cfg, url("/flaky/k500/100/500"), &resp, &err), -EAGAIN);
    assert_int_equal(err.status, 500);
    assert_int_equal(err.attempts, 4);
    assert_int_equal(count_for("k500"), 4);
    assert_string_equal(err.code, "Status500");
    assert_string_equal(err.message, "test server says 500");
    assert_non_null(strstr(http_error_string(&err), "HTTP 500: Status500: test server says 500"));
    assert_int_equal(resp.status, 500); /* the last answer's body is handed back */
    http_response_done(&resp);
    http_error_done(&err);
}

static void test_429_honours_retry_after(void **state) {
    (void)state;
    HttpConfig cfg = test_config();
    HttpResponse resp = {0};
    uint64_t t0 = now_monotonic_ms();
    assert_int_equal(get(&cfg, url("/retry-after/k429/1"), &resp, NULL), 0);
    uint64_t elapsed = now_monotonic_ms() - t0;
    assert_string_equal((const char *)resp.body, "after");
    assert_int_equal(count_for("k429"), 2);
    /* our own backoff is 20 ms: waiting a second means Retry-After was used */
    assert_true(elapsed >= 1000);
    http_response_done(&resp);
}

static void test_4xx_not_retried(void **state) {
    (void)state;
    static const struct {
        const char *key;
        int status;
        int r;
    } cases[] = {
        {"k400", 400, -EBADMSG}, {"k401", 401, -EACCES},  {"k403", 403, -EACCES},
        {"k404", 404, -ENOENT},  {"k409", 409, -EBADMSG},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        HttpConfig cfg = test_config();
        HttpError err = {0};
        char path[64];
        snprintf(path, sizeof(path), "/flaky/%s/100/%d", cases[i].key, cases[i].status);
        assert_int_equal(get(&cfg, url(path), NULL, &err), cases[i].r);
        assert_int_equal(err.status, cases[i].status);
        assert_int_equal(err.attempts, 1);
        assert_int_equal(count_for(cases[i].key), 1);
        http_error_done(&err);
    }
}

static void test_timeout_retried_then_fails(void **state) {
    (void)state;
    HttpConfig cfg = test_config();
    HttpError err = {0};
    cfg.timeout_ms = 300;
    cfg.max_attempts = 2;
    assert_int_equal(get(&cfg, url("/slow/2"), NULL, &err), -ETIMEDOUT);
    assert_int_equal(err.attempts, 2);
    assert_int_equal(err.status, 0);
    assert_non_null(err.message);
    http_error_done(&err);
}

static void test_deadline_stops_retries(void **state) {
    (void)state;
    HttpConfig cfg = test_config();
    HttpError err = {0};
    cfg.max_attempts = 50;
    cfg.backoff_initial_ms = 400;
    cfg.backoff_max_ms = 400;
    cfg.deadline_ms = 1000;
    uint64_t t0 = now_monotonic_ms();
    int r = get(&cfg, url("/flaky/kdl/1000/503"), NULL, &err);
    /* the last attempt gets what is left of the deadline: on a loaded machine it
     * may time out rather than see its 503 */
    assert_true(r == -EAGAIN || r == -ETIMEDOUT);
    assert_true(now_monotonic_ms() - t0 < 3000);
    assert_true(err.attempts >= 1 && err.attempts < 50);
    assert_true(count_for("kdl") < 50);
    http_error_done(&err);
}

static void test_response_cap(void **state) {
    (void)state;
    HttpConfig cfg = test_config();
    HttpResponse resp = {0};
    HttpError err = {0};
    cfg.max_response = 100000;
    /* at the cap: fine */
    assert_int_equal(get(&cfg, url("/big/100000"), &resp, &err), 0);
    assert_int_equal(resp.body_len, 100000);
    http_response_done(&resp);
    /* beyond it, with and without Content-Length (curl 7.88 only enforces the former) */
    assert_int_equal(get(&cfg, url("/big/100001"), &resp, &err), -EPROTO);
    http_response_done(&resp);
    http_error_done(&err);
    assert_int_equal(get(&cfg, url("/big/5000000?chunked=1"), &resp, &err), -EPROTO);
    assert_int_equal(err.attempts, 1); /* not retried */
    http_response_done(&resp);
    http_error_done(&err);
}

static void test_url_policy(void **state) {
    (void)state;
    HttpConfig cfg = test_config();
    HttpError err = {0};
    cfg.allow_plain_http_loopback = false;
    assert_int_equal(get(&cfg, url("/ok"), NULL, &err), -EINVAL);
    assert_non_null(err.message);
    http_error_done(&err);
    assert_false(http_url_allowed(&cfg, "http://127.0.0.1/x"));
    assert_false(http_url_allowed(&cfg, "http://example.com/x"));
    assert_false(http_url_allowed(&cfg, "ftp://127.0.0.1/x"));
    assert_false(http_url_allowed(&cfg, "file:///etc/passwd"));
    assert_false(http_url_allowed(&cfg, "not a url"));
    assert_true(http_url_allowed(&cfg, "https://example.com/x"));
    assert_true(http_url_allowed(&cfg, "http://169.254.169.254/metadata/instance"));
    cfg.allow_plain_http_loopback = true;
    assert_true(http_url_allowed(&cfg, "http://127.0.0.1:8080/x"));
    assert_true(http_url_allowed(&cfg, "http://localhost/x"));
    assert_true(http_url_allowed(&cfg, "http://[::1]:80/x"));
    assert_false(http_url_allowed(&cfg, "http://10.0.0.1/x"));
    assert_false(http_url_allowed(&cfg, "http://127.0.0.1.example.com/x"));
}

static void test_tls_ca_bundle(void **state) {
    (void)state;
    HttpConfig cfg = test_config();
    HttpResponse resp = {0};
    HttpError err = {0};
    char u[128];
    snprintf(u, sizeof(u), "https://127.0.0.1:%d/ok", https_port);
    /* the server's CA is not in the system store: refused, and not retried;
     * an endpoint failure (exit 3), not a verdict on evidence (exit 1) */
    assert_int_equal(get(&cfg, u, &resp, &err), -ECONNABORTED);
    assert_int_equal(cvm_exit_from_errno(-ECONNABORTED), CVM_EXIT_TRANSIENT);
    assert_int_equal(err.attempts, 1);
    http_error_done(&err);
    cfg.ca_bundle = ca_file;
    assert_int_equal(get(&cfg, u, &resp, &err), 0);
    assert_string_equal((const char *)resp.body, "hello");
    http_response_done(&resp);
    /* the name must match too: the cert is for localhost/127.0.0.1, not 127.0.0.2 */
    snprintf(u, sizeof(u), "https://127.0.0.2:%d/ok", https_port);
    assert_int_not_equal(get(&cfg, u, &resp, &err), 0);
    http_response_done(&resp);
    http_error_done(&err);
}

static void test_connection_refused(void **state) {
    (void)state;
    HttpConfig cfg = test_config();
    HttpError err = {0};
    cfg.max_attempts = 3;
    /* port 1 on loopback: nothing listens there */
    assert_int_equal(get(&cfg, "http://127.0.0.1:1/", NULL, &err), -ECONNREFUSED);
    assert_int_equal(err.attempts, 3);
    http_error_done(&err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_post_headers_body),
        cmocka_unit_test(test_retry_5xx_then_success),
        cmocka_unit_test(test_5xx_gives_up),
        cmocka_unit_test(test_429_honours_retry_after),
        cmocka_unit_test(test_4xx_not_retried),
        cmocka_unit_test(test_timeout_retried_then_fails),
        cmocka_unit_test(test_deadline_stops_retries),
        cmocka_unit_test(test_response_cap),
        cmocka_unit_test(test_url_policy),
        cmocka_unit_test(test_tls_ca_bundle),
        cmocka_unit_test(test_connection_refused),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
