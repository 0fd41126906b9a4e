#!/bin/bash
# make check: replay the event-log corpus and the real logs through fuzz-eventlog.
# shellcheck source=fuzz/lib.sh
. "${CVM_SRCDIR:?}/fuzz/lib.sh"

run fuzz-eventlog "$srcdir/fuzz/corpus/eventlog" \
    "$testdata/google__go-eventlog" \
    "$testdata/tpm2-software__tpm2-tools" \
    "$testdata/google__go-tdx-guest/testing_testdata_ccel_ccel_data.dat" \
    "$testdata"/confidential-containers__trustee/deps_eventlog_test_data_CCEL_*

exit $status
