# accelbench figure "tbt-cdf": CDF of the gaps between tokens (TBT), one panel per class, one line per run.
# Filled in by `accelbench plot`; edit this copy and re-run `gnuplot tbt-cdf.gp` in its directory.
# Data ({{DATA}}): one block per (class, run), class-major: block index (c-1)*nruns + (r-1). Each
# block starts with a header line naming the run, then rows "gap_ms cumulative_fraction".
set terminal {{TERMINAL}}
set output '{{OUTPUT}}'
data = '{{DATA}}'
nruns = {{NRUNS}}
nclasses = {{NCLASSES}}
array classes[nclasses] = [{{CLASSES}}]
# The median of each class's TBT SLOs in ms (NaN where the class's requests carry none).
array slo[nclasses] = [{{SLO_MS}}]

set multiplot layout {{LAYOUT}} title {{TITLE}}
set logscale x
set xlabel 'gap between tokens (ms, log scale)'
set ylabel 'fraction of gaps (completed requests)'
set yrange [0:1.02]
set grid
set key top left noopaque  # not opaque: an opaque key hides the lines under it
do for [c=1:nclasses] {
    set title classes[c]
    unset arrow
    if (slo[c] == slo[c]) {
        set arrow from slo[c], graph 0 to slo[c], graph 1 nohead dt 2 lw 1.5 lc rgb 'black'
    }
    plot for [r=1:nruns] data index ((c-1)*nruns + r-1) using 1:2 with steps lw 2 lc r title columnheader(1), \
         NaN with lines dt 2 lw 1.5 lc rgb 'black' title (slo[c] == slo[c] ? sprintf('SLO: median of the class, %.4g ms', slo[c]) : '')
}
unset multiplot
