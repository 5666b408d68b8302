# accelbench figure "timeline": the engine's iterations over time (from iterations.jsonl).
# Filled in by `accelbench plot`; edit this copy and re-run `gnuplot timeline.gp` in its directory.
# Data ({{DATA}}) columns: 1 iteration start (s), 2 batch tokens (prefill tokens + decodes),
# 3 largest prefill chunk (tokens), 4 decode count, 5 KV use fraction kv_used/(kv_used+kv_free),
# 6 iteration time (ms). When the window held more iterations than the figure can show, each row
# is the maximum of every column over a bin of iterations (the title says so).
set terminal {{TERMINAL}}
set output '{{OUTPUT}}'
data = '{{DATA}}'
# The tightest TBT SLO among the run's requests, in ms (NaN when none has one).
tbt_slo = {{TBT_SLO_MS}}

set multiplot layout 5,1 title {{TITLE}}
set xrange {{XRANGE}}
set grid
set key top right noopaque
set lmargin 12
set rmargin 4
set tmargin 0.6
set bmargin 0.6
set format x ''
unset xlabel

set ylabel 'batch tokens'
plot data using 1:2 with lines lc 1 title 'prefill tokens + decodes'
set ylabel 'largest chunk'
plot data using 1:3 with lines lc 2 title 'largest prefill chunk (tokens)'
set ylabel 'decodes'
plot data using 1:4 with lines lc 3 title 'decode count'
set ylabel 'KV use'
set yrange [0:1.05]
plot data using 1:5 with lines lc 4 title 'KV use fraction'
set yrange [*:*]
set bmargin 3
set format x '%g'
set xlabel 'time (s)'
set ylabel 'iteration (ms)'
plot data using 1:6 with lines lc 6 title 'iteration time', \
     tbt_slo with lines dt 2 lw 1.5 lc rgb 'red' title (tbt_slo == tbt_slo ? sprintf('tightest TBT SLO %g ms', tbt_slo) : '')
unset multiplot
