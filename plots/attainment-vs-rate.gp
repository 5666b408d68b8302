# accelbench figure "attainment-vs-rate": SLO attainment against offered rate, one panel overall
# and one per class, one line per sweep (dashed: the oracle's upper bound where the sweep has one).
# Filled in by `accelbench plot`; edit this copy and re-run `gnuplot attainment-vs-rate.gp` in its directory.
# Data ({{DATA}}): one block per sweep with a header line, then rows: 1 rate (req/s), 2 overall
# attainment, 2+c attainment of class c (NaN where the point lacks it), last: oracle bound (NaN if none).
set terminal {{TERMINAL}}
set output '{{OUTPUT}}'
data = '{{DATA}}'
nsweeps = {{NSWEEPS}}
npanels = {{NPANELS}}
array panels[npanels] = [{{PANELS}}]
array labels[nsweeps] = [{{LABELS}}]
# 1 where the sweep's points carry an oracle bound.
array oracle[nsweeps] = [{{HAS_ORACLE}}]
# The capacity its search found (req/s) at index (s-1)*npanels + p; NaN where none.
array capacity[nsweeps*npanels] = [{{CAPACITY}}]
# The search's target attainment (NaN without a search).
target = {{TARGET}}

set multiplot layout {{LAYOUT}} title {{TITLE}}
set xlabel 'offered rate (req/s)'
set ylabel 'SLO attainment'
set yrange [0:1.05]
set grid
set key bottom left
do for [p=1:npanels] {
    set title panels[p]
    unset arrow
    if (target == target) {
        set arrow from graph 0, first target to graph 1, first target nohead dt 3 lc rgb 'gray40'
    }
    ncap = 0
    do for [s=1:nsweeps] {
        k = (s-1)*npanels + p
        if (capacity[k] == capacity[k]) {
            set arrow from capacity[k], graph 0 to capacity[k], graph 1 nohead dt 4 lw 1.5 lc s
            ncap = ncap + 1
        }
    }
    plot for [s=1:nsweeps] data index (s-1) using 1:(column(p+1)) with linespoints lw 2 pt 7 ps 0.6 lc s title labels[s], \
         for [s=1:(p == 1 ? nsweeps : 0)] data index (s-1) using 1:(oracle[s] ? column(npanels+2) : NaN) with lines dt 2 lw 1.5 lc s \
             title (oracle[s] ? labels[s].' (oracle bound)' : ''), \
         NaN with lines dt 4 lw 1.5 lc rgb 'black' title (ncap > 0 ? sprintf('capacity at %g%% attainment', target*100) : '')
}
unset multiplot
