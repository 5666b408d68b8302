# accelbench figure "gantt": one bar per request in a time window, coloured by class: the light
# segment is queueing (intended arrival to first token), the solid one decoding (first token to done).
# Filled in by `accelbench plot`; edit this copy and re-run `gnuplot gantt.gp` in its directory.
# Data ({{DATA}}) columns: 1 row (requests by arrival), 2 intended_s, 3 first token (s; the end
# when there was none), 4 end (done_s, else the last token or first token time), 5 class number,
# 6 1 when the request missed its SLO or failed, 7 request id.
set terminal {{TERMINAL}}
set output '{{OUTPUT}}'
data = '{{DATA}}'
nrows = {{NROWS}}
nclasses = {{NCLASSES}}
array classes[nclasses] = [{{CLASSES}}]

set title {{TITLE}}
set xrange {{XRANGE}}
set yrange [nrows + 1:0]
set xlabel 'time (s)'
set ylabel 'request (by arrival)'
set grid x
set key outside right top
plot data using (($2+$3)/2):1:2:3:($1-0.25):($1+0.25):5 with boxxyerror fs transparent solid 0.3 noborder lc variable notitle, \
     data using (($3+$4)/2):1:3:4:($1-0.42):($1+0.42):5 with boxxyerror fs solid 0.9 noborder lc variable notitle, \
     data using 4:($6 > 0 ? $1 : NaN) with points pt 2 ps 0.7 lw 1.5 lc rgb 'red' title 'missed SLO', \
     NaN with boxes fs transparent solid 0.3 noborder lc rgb 'gray40' title 'queued (light)', \
     NaN with boxes fs solid 0.9 noborder lc rgb 'gray40' title 'decoding (solid)', \
     for [c=1:nclasses] NaN with boxes fs solid 0.9 noborder lc c title classes[c]
