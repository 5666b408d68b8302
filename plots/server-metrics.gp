# accelbench figure "server-metrics": the server's own state during an endpoint run (from
# server_metrics.jsonl, `run --server-metrics`) on the client's time axis.
# Filled in by `accelbench plot`; edit this copy and re-run `gnuplot server-metrics.gp` in its directory.
# Data ({{DATA}}): block 0, one row per successful scrape: 1 time (s), 2 running, 3 waiting,
# 4 KV use (%), 5 requests in flight at the client then (sent, not yet done); NaN where the server
# does not export the value. Block 1, one row per completed request: 1 its first token's time (s),
# 2 its TTFT (ms, from the intended send).
set terminal {{TERMINAL}}
set output '{{OUTPUT}}'
data = '{{DATA}}'

set multiplot layout 3,1 title {{TITLE}}
set xrange {{XRANGE}}
set grid
set key top right noopaque
set lmargin 12
set rmargin 4
set tmargin 0.6
set bmargin 0.6
set format x ''
unset xlabel

set ylabel 'requests'
plot data index 0 using 1:2 with steps lw 2 lc 1 title 'running (server)', \
     data index 0 using 1:3 with steps lw 2 lc 2 title 'waiting (server)', \
     data index 0 using 1:5 with steps lw 1.5 dt 2 lc 3 title 'in flight (client)'
set ylabel 'KV use (%)'
set yrange [0:105]
plot data index 0 using 1:4 with steps lw 2 lc 4 title 'KV cache use (server)'
set yrange [*:*]
set bmargin 3
set format x '%g'
set xlabel 'time since the run started (s)'
set ylabel 'TTFT (ms)'
plot data index 1 using 1:2 with points pt 7 ps 0.4 lc 6 title 'TTFT of each request, at its first token (client)'
unset multiplot
