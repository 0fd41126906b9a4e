/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tpm_open()'s readiness check with the TSS mocked (-Wl,--wrap=..., see
 * tpm/local.am): TPM2_Startup already done is fine, TPM_RC_RETRY/TESTING/
 * YIELDED/NV_RATE are retried with a doubling, bounded backoff, other errors
 * fail at once with the command and the decoded RC, and every failure path
 * releases what was opened.
 */
#include "config.h"

#include <time.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "tests/unit/test-helpers.h"
#include "tpm/tpm.h"

TSS2_RC __wrap_Tss2_TctiLdr_Initialize(const char *conf, TSS2_TCTI_CONTEXT **ctx);
void __wrap_Tss2_TctiLdr_Finalize(TSS2_TCTI_CONTEXT **ctx);
TSS2_RC __wrap_Esys_Initialize(ESYS_CONTEXT **esys, TSS2_TCTI_CONTEXT *tcti, TSS2_ABI_VERSION *abi);
void __wrap_Esys_Finalize(ESYS_CONTEXT **esys);
TSS2_RC __wrap_Esys_Startup(ESYS_CONTEXT *esys, TPM2_SU type);
TSS2_RC __wrap_Esys_SelfTest(ESYS_CONTEXT *esys, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                             TPMI_YES_NO full);
int __wrap_nanosleep(const struct timespec *req, struct timespec *rem);

/* tpm/ wraps the loaded TCTI in its timing TCTI, which reads the version */
static TSS2_TCTI_CONTEXT_COMMON_V2 fake_tcti = {.v1 = {.version = 2}};
static char fake_esys;
static int tcti_open, esys_open;
static unsigned sleeps, slept_ms, last_sleep_ms;

TSS2_RC __wrap_Tss2_TctiLdr_Initialize(const char *conf, TSS2_TCTI_CONTEXT **ctx) {
    (void)conf;
    TSS2_RC rc = mock_type(TSS2_RC);
    if (rc == TSS2_RC_SUCCESS) {
        *ctx = (TSS2_TCTI_CONTEXT *)&fake_tcti;
        tcti_open++;
    }
    return rc;
}

void __wrap_Tss2_TctiLdr_Finalize(TSS2_TCTI_CONTEXT **ctx) {
    assert_ptr_equal(*ctx, &fake_tcti);
    *ctx = NULL;
    tcti_open--;
}

TSS2_RC __wrap_Esys_Initialize(ESYS_CONTEXT **esys, TSS2_TCTI_CONTEXT *tcti,
                               TSS2_ABI_VERSION *abi) {
    (void)abi;
    assert_non_null(tcti); /* the timing TCTI in front of fake_tcti */
    assert_ptr_not_equal(tcti, &fake_tcti);
    *esys = (ESYS_CONTEXT *)&fake_esys;
    esys_open++;
    return TSS2_RC_SUCCESS;
}

void __wrap_Esys_Finalize(ESYS_CONTEXT **esys) {
    assert_ptr_equal(*esys, &fake_esys);
    *esys = NULL;
    esys_open--;
}

TSS2_RC __wrap_Esys_Startup(ESYS_CONTEXT *esys, TPM2_SU type) {
    (void)esys;
    assert_int_equal(type, TPM2_SU_CLEAR);
    return mock_type(TSS2_RC);
}

TSS2_RC __wrap_Esys_SelfTest(ESYS_CONTEXT *esys, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                             TPMI_YES_NO full) {
    (void)esys, (void)s1, (void)s2, (void)s3;
    assert_int_equal(full, TPM2_NO);
    return mock_type(TSS2_RC);
}

int __wrap_nanosleep(const struct timespec *req, struct timespec *rem) {
    (void)rem;
    last_sleep_ms = (unsigned)(req->tv_sec * 1000 + req->tv_nsec / 1000000);
    slept_ms += last_sleep_ms;
    sleeps++;
    return 0;
}

static int setup(void **state) {
    (void)state;
    tcti_open = esys_open = 0;
    sleeps = slept_ms = last_sleep_ms = 0;
    return 0;
}

static void test_ready_after_testing(void **state) {
    (void)state;
    TpmContext *t = NULL;
    will_return(__wrap_Tss2_TctiLdr_Initialize, TSS2_RC_SUCCESS);
    will_return(__wrap_Esys_Startup, TPM2_RC_INITIALIZE); /* already started */
    will_return(__wrap_Esys_SelfTest, TPM2_RC_TESTING);
    will_return(__wrap_Esys_SelfTest, TPM2_RC_YIELDED);
    will_return(__wrap_Esys_SelfTest, TSS2_RC_SUCCESS);
    assert_int_equal(tpm_open("swtpm:port=1", &t), 0);
    assert_non_null(t);
    assert_int_equal(sleeps, 2);
    assert_int_equal(slept_ms, 10 + 20); /* doubling from 10 ms */
    t = tpm_close(t);
    assert_null(t);
    assert_int_equal(tcti_open, 0);
    assert_int_equal(esys_open, 0);
}

static void test_startup_nv_rate(void **state) {
    (void)state;
    TpmContext *t = NULL;
    will_return(__wrap_Tss2_TctiLdr_Initialize, TSS2_RC_SUCCESS);
    will_return(__wrap_Esys_Startup, TPM2_RC_NV_RATE);
    will_return(__wrap_Esys_Startup, TSS2_RC_SUCCESS);
    will_return(__wrap_Esys_SelfTest, TSS2_RC_SUCCESS);
    assert_int_equal(tpm_open(NULL, &t), 0);
    assert_int_equal(sleeps, 1);
    tpm_close(t);
}

static void test_retry_is_bounded(void **state) {
    (void)state;
    TpmContext *t = NULL;
    will_return(__wrap_Tss2_TctiLdr_Initialize, TSS2_RC_SUCCESS);
    will_return(__wrap_Esys_Startup, TSS2_RC_SUCCESS);
    will_return_always(__wrap_Esys_SelfTest, TPM2_RC_RETRY);
    assert_int_equal(tpm_open(NULL, &t), -EBUSY);
    assert_null(t);
    assert_true(sleeps > 5 && sleeps < 30);
    assert_int_equal(slept_ms, TPM_BUSY_TIMEOUT_DEFAULT_MS); /* the last wait is cut to fit */
    assert_true(last_sleep_ms <= 1000);                      /* capped at 1 s */
    assert_non_null(strstr(tpm_last_error(NULL), "Esys_SelfTest(0x00000922)"));
    assert_non_null(strstr(tpm_last_error(NULL), "stayed busy for 10000 ms"));
    assert_int_equal(cvm_exit_from_errno(-EBUSY), CVM_EXIT_PLATFORM);
    assert_int_equal(tcti_open, 0);
    assert_int_equal(esys_open, 0);
}

/* [agent] tpm-busy-timeout: the bound is the configured one; 0 = no retry. */
static void test_busy_timeout_configurable(void **state) {
    (void)state;
    TpmContext *t = NULL;
    tpm_set_busy_timeout(100);
    will_return(__wrap_Tss2_TctiLdr_Initialize, TSS2_RC_SUCCESS);
    will_return(__wrap_Esys_Startup, TSS2_RC_SUCCESS);
    will_return_always(__wrap_Esys_SelfTest, TPM2_RC_RETRY);
    assert_int_equal(tpm_open(NULL, &t), -EBUSY);
    assert_int_equal(slept_ms, 100);
    assert_non_null(strstr(tpm_last_error(NULL), "stayed busy for 100 ms"));
    sleeps = slept_ms = 0;
    tpm_set_busy_timeout(0);
    will_return(__wrap_Tss2_TctiLdr_Initialize, TSS2_RC_SUCCESS);
    will_return(__wrap_Esys_Startup, TSS2_RC_SUCCESS);
    assert_int_equal(tpm_open(NULL, &t), -EBUSY);
    assert_int_equal(sleeps, 0);
    tpm_set_busy_timeout(TPM_BUSY_TIMEOUT_DEFAULT_MS);
}

static void test_failure_not_retried(void **state) {
    (void)state;
    TpmContext *t = NULL;
    will_return(__wrap_Tss2_TctiLdr_Initialize, TSS2_RC_SUCCESS);
    will_return(__wrap_Esys_Startup, TSS2_RC_SUCCESS);
    will_return(__wrap_Esys_SelfTest, TPM2_RC_FAILURE);
    assert_int_equal(tpm_open(NULL, &t), -EIO);
    assert_int_equal(sleeps, 0);
    assert_non_null(strstr(tpm_last_error(NULL), "Esys_SelfTest(0x00000101) - "));
    assert_int_equal(tcti_open, 0);
    assert_int_equal(esys_open, 0);
}

static void test_tcti_unreachable(void **state) {
    (void)state;
    TpmContext *t = NULL;
    will_return(__wrap_Tss2_TctiLdr_Initialize, TSS2_TCTI_RC_IO_ERROR);
    assert_int_equal(tpm_open("swtpm:port=1", &t), -ENOTCONN);
    assert_non_null(strstr(tpm_last_error(NULL), "Tss2_TctiLdr_Initialize('swtpm:port=1')"));
    /* a TPM out of reach is the platform (exit 4), named, not "try later" */
    assert_non_null(strstr(tpm_last_error(NULL), "the connection to the TPM 'swtpm:port=1'"));
    assert_int_equal(cvm_exit_from_errno(-ENOTCONN), CVM_EXIT_PLATFORM);
    assert_int_equal(tcti_open, 0);
    assert_null(tpm_close(NULL));
}

/* A device node that does not exist is named as such (exit 4), before the
 * TCTI turns it into "connection refused". */
static void test_device_missing(void **state) {
    (void)state;
    TpmContext *t = NULL;
    assert_int_equal(tpm_open("device:/nonexistent/tpmrm0", &t), -ENODEV);
    assert_null(t);
    assert_non_null(strstr(tpm_last_error(NULL), "'/nonexistent/tpmrm0' does not exist"));
    assert_non_null(strstr(tpm_last_error(NULL), "tpm_crb"));
    assert_int_equal(cvm_exit_from_errno(-ENODEV), CVM_EXIT_PLATFORM);
    assert_int_equal(tcti_open, 0);
    /* an existing node goes on to the TCTI */
    will_return(__wrap_Tss2_TctiLdr_Initialize, TSS2_TCTI_RC_IO_ERROR);
    assert_int_equal(tpm_open("device:/dev/null", &t), -ENOTCONN);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_ready_after_testing, setup),
        cmocka_unit_test_setup(test_startup_nv_rate, setup),
        cmocka_unit_test_setup(test_retry_is_bounded, setup),
        cmocka_unit_test_setup(test_busy_timeout_configurable, setup),
        cmocka_unit_test_setup(test_failure_not_retried, setup),
        cmocka_unit_test_setup(test_tcti_unreachable, setup),
        cmocka_unit_test_setup(test_device_missing, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
