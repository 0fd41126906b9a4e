#!/bin/bash
# The secret store against cvm-sim's Managed HSM (TDX guest): see secrets-sim-lib.sh.
SIM_VAULT=mhsm SIM_TEE=tdx
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/secrets-sim-lib.sh"
