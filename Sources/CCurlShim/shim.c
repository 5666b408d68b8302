#define _GNU_SOURCE
#include <sys/timex.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include "CCurlShim.h"

CURLcode accel_easy_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
CURLcode accel_easy_setopt_ptr(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
CURLcode accel_easy_setopt_str(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
CURLcode accel_easy_setopt_data_cb(CURL *h, CURLoption o, accel_data_cb cb) { return curl_easy_setopt(h, o, cb); }
CURLcode accel_easy_setopt_seek_cb(CURL *h, accel_seek_cb cb) { return curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, cb); }
CURLcode accel_easy_setopt_prereq_cb(CURL *h, accel_prereq_cb cb) { return curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, cb); }
CURLcode accel_easy_getinfo_off_t(CURL *h, CURLINFO i, curl_off_t *out) { return curl_easy_getinfo(h, i, out); }
CURLcode accel_easy_getinfo_long(CURL *h, CURLINFO i, long *out) { return curl_easy_getinfo(h, i, out); }
CURLcode accel_easy_getinfo_ptr(CURL *h, CURLINFO i, void **out) { return curl_easy_getinfo(h, i, out); }

CURLMcode accel_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }
CURLMcode accel_multi_setopt_ptr(CURLM *m, CURLMoption o, void *v) { return curl_multi_setopt(m, o, v); }
CURLMcode accel_multi_setopt_socket_cb(CURLM *m, accel_socket_cb cb) { return curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, cb); }
CURLMcode accel_multi_setopt_timer_cb(CURLM *m, accel_timer_cb cb) { return curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, cb); }

long accel_thread_involuntary_switches(void) {
    struct rusage u;
    return getrusage(RUSAGE_THREAD, &u) == 0 ? u.ru_nivcsw : 0;
}

long accel_set_timer_slack_ns(long ns) {
    long old = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    prctl(PR_SET_TIMERSLACK, (unsigned long)ns, 0, 0, 0);
    return old;
}

int accel_clock_sync(int *synchronized, long *esterror_us, long *maxerror_us) {
    struct timex tx = {0};
    if (adjtimex(&tx) < 0) return -1;
    *synchronized = (tx.status & STA_UNSYNC) == 0;
    *esterror_us = tx.esterror;
    *maxerror_us = tx.maxerror;
    return 0;
}
