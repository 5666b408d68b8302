# accelbench figure "policy-bars": SLO attainment and goodput per class and overall, one bar per run
# (policies and ablations), from each run's summary.json.
# Filled in by `accelbench plot`; edit this copy and re-run `gnuplot policy-bars.gp` in its directory.
# Data ({{DATA}}): block 0 attainment (%), block 1 goodput (req/s); each has a header line
# "group run1 run2 ..." and one row per class, then "overall".
set terminal {{TERMINAL}}
set output '{{OUTPUT}}'
data = '{{DATA}}'
nruns = {{NRUNS}}
# Groups (classes, then overall): the clusters sit at x = 0 … ngroups-1.
ngroups = {{NGROUPS}}

set multiplot layout 2,1 title {{TITLE}}
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xrange [-0.6:ngroups-0.4]
set grid y
set key outside right top
set yrange [0:105]
set ylabel 'SLO attainment (%)'
plot for [r=1:nruns] data index 0 using (column(r+1)):xtic(1) lc r title columnheader(r+1)
set yrange [0:*]
set ylabel 'goodput (req/s)'
plot for [r=1:nruns] data index 1 using (column(r+1)):xtic(1) lc r title columnheader(r+1)
unset multiplot
