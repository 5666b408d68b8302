# accelbench figure "throughput-vs-rate": completed requests per second and output tokens per
# second against offered rate, one line per sweep.
# Filled in by `accelbench plot`; edit this copy and re-run `gnuplot throughput-vs-rate.gp` in its directory.
# Data ({{DATA}}): one block per sweep with a header line, then rows: 1 rate (req/s),
# 2 throughput (req/s), 3 output tokens/s.
set terminal {{TERMINAL}}
set output '{{OUTPUT}}'
data = '{{DATA}}'
nsweeps = {{NSWEEPS}}
array labels[nsweeps] = [{{LABELS}}]
# The capacity the sweep's search found (req/s; NaN where none).
array capacity[nsweeps] = [{{CAPACITY}}]

set multiplot layout 2,1 title {{TITLE}}
set xlabel 'offered rate (req/s)'
set yrange [0:*]
set grid
set key top left
ncap = 0
do for [s=1:nsweeps] {
    if (capacity[s] == capacity[s]) {
        set arrow from capacity[s], graph 0 to capacity[s], graph 1 nohead dt 4 lw 1.5 lc s
        ncap = ncap + 1
    }
}
set ylabel 'throughput (req/s)'
plot for [s=1:nsweeps] data index (s-1) using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc s title labels[s], \
     x with lines dt 3 lc rgb 'gray50' title 'offered rate', \
     NaN with lines dt 4 lw 1.5 lc rgb 'black' title (ncap > 0 ? 'capacity (search)' : '')
set ylabel 'output tokens/s'
plot for [s=1:nsweeps] data index (s-1) using 1:3 with linespoints lw 2 pt 7 ps 0.6 lc s title labels[s], \
     NaN with lines dt 4 lw 1.5 lc rgb 'black' title (ncap > 0 ? 'capacity (search)' : '')
unset multiplot
