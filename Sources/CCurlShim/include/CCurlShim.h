#ifndef ACCEL_CCURLSHIM_H
#define ACCEL_CCURLSHIM_H
// Typed wrappers for libcurl's variadic setopt/getinfo calls, which Swift cannot call directly.
#include <curl/curl.h>
// Linux event APIs the load generator's loop uses; Swift's Glibc module does not export them.
#include <sys/epoll.h>
#include <sys/timerfd.h>

typedef size_t (*accel_data_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);
typedef int (*accel_socket_cb)(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp);
typedef int (*accel_timer_cb)(CURLM *multi, long timeout_ms, void *userp);
typedef int (*accel_seek_cb)(void *userp, curl_off_t offset, int origin);
typedef int (*accel_prereq_cb)(void *clientp, char *primary_ip, char *local_ip, int primary_port, int local_port);

CURLcode accel_easy_setopt_long(CURL *h, CURLoption o, long v);
CURLcode accel_easy_setopt_ptr(CURL *h, CURLoption o, void *v);
CURLcode accel_easy_setopt_str(CURL *h, CURLoption o, const char *v);
CURLcode accel_easy_setopt_data_cb(CURL *h, CURLoption o, accel_data_cb cb);
CURLcode accel_easy_setopt_seek_cb(CURL *h, accel_seek_cb cb);
/// CURLOPT_PREREQFUNCTION (libcurl 7.80+): called once the connection is ready, just before the
/// request goes out.
CURLcode accel_easy_setopt_prereq_cb(CURL *h, accel_prereq_cb cb);
CURLcode accel_easy_getinfo_off_t(CURL *h, CURLINFO i, curl_off_t *out);
CURLcode accel_easy_getinfo_long(CURL *h, CURLINFO i, long *out);
CURLcode accel_easy_getinfo_ptr(CURL *h, CURLINFO i, void **out);

/// Involuntary context switches of the calling thread (getrusage RUSAGE_THREAD, a GNU extension).
long accel_thread_involuntary_switches(void);
/// Sets the calling thread's timer slack (ns) and returns the previous value: the default 50 µs
/// slack would make every timerfd wake-up up to 50 µs late.
long accel_set_timer_slack_ns(long ns);

/// The kernel clock discipline's state (adjtimex, read only): whether an NTP daemon keeps the
/// clock synchronised, and its estimated and maximum error in microseconds. 0 on success.
int accel_clock_sync(int *synchronized, long *esterror_us, long *maxerror_us);

CURLMcode accel_multi_setopt_long(CURLM *m, CURLMoption o, long v);
CURLMcode accel_multi_setopt_ptr(CURLM *m, CURLMoption o, void *v);
CURLMcode accel_multi_setopt_socket_cb(CURLM *m, accel_socket_cb cb);
CURLMcode accel_multi_setopt_timer_cb(CURLM *m, accel_timer_cb cb);

#endif
