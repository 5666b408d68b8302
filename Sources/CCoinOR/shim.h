// COIN-OR Clp (LP, dual simplex) and Cbc (MILP) through their C APIs
// (Debian coinor-libclp-dev, coinor-libcbc-dev; include path from pkg-config cbc).
#include <Clp_C_Interface.h>
#include <Cbc_C_Interface.h>
