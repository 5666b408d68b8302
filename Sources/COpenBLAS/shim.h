// OpenBLAS (Debian libopenblas-dev): CBLAS and its thread control. The include path comes from
// pkg-config openblas.
#include <cblas.h>
