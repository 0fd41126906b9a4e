#!/bin/bash
# `cvm-agent release` against cvm-sim's Managed HSM (TDX guest): see sim-release-lib.sh.
SIM_VAULT=mhsm SIM_TEE=tdx
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/sim-release-lib.sh"
