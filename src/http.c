/*-------------------------------------------------------------------------
 *
 * http.c
 *	  GET requests to Vapi's REST API over libcurl (see http.h).
 *
 * libcurl runs inside the backend, so three rules hold throughout:
 * nothing may longjmp out of libcurl (its callbacks call no function that
 * can raise: they use malloc, never palloc, and report through flags);
 * every handle is freed on every path (PG_FINALLY), including an error
 * raised between attempts; and a cancel is noticed by the progress
 * callback, which makes libcurl return, after which the handle is freed
 * and CHECK_FOR_INTERRUPTS() raises the cancel as usual.  libcurl is told
 * never to use signals (CURLOPT_NOSIGNAL), which belong to PostgreSQL.
 *
 * The API key travels only in the Authorization header: it is never part
 * of a URL, an error message or a log line, and the copies this file makes
 * are zeroed before they are freed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include <curl/curl.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "http.h"

char	   *vapi_api_url = NULL;
int			vapi_api_connect_timeout = 10000;
int			vapi_api_timeout = 30000;
int			vapi_api_max_response_size = 65536;
int			vapi_api_retries = 3;
int			vapi_api_max_retry_wait = 30000;
int			vapi_api_page_size = 100;

/* First wait between attempts; it doubles with each retry. */
#define VAPI_RETRY_BASE_MS	500

static bool curl_ready = false;

/* The answer as it arrives: malloc'd, because libcurl's callbacks fill it. */
typedef struct Body
{
	char	   *data;
	size_t		len;
	size_t		cap;
	size_t		max;
	bool		too_large;
	bool		oom;
} Body;

/* The one response header we read. */
typedef struct Headers
{
	char		retry_after[64];
} Headers;

/*
 * Is url a base URL we may send the key to?  https:// to any host, or
 * http:// to a loopback address only (a test stand-in, a local proxy):
 * over plain HTTP the key would cross the network in the clear.
 */
bool
vapi_check_api_url(const char *url, const char **why)
{
	const char *host;
	size_t		hostlen;

	if (url == NULL || url[0] == '\0')
	{
		*why = "The URL must not be empty.";
		return false;
	}
	for (const char *p = url; *p; p++)
		if ((unsigned char) *p <= ' ' || *p == 0x7f || *p == '?' || *p == '#' || *p == '@')
		{
			*why = "The URL must not contain white space, control characters, a query, a fragment or user information.";
			return false;
		}
	if (pg_strncasecmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (pg_strncasecmp(url, "http://", 7) == 0)
		host = url + 7;
	else
	{
		*why = "The URL must begin with https:// (or http:// for a loopback address).";
		return false;
	}
	hostlen = (host[0] == '[') ? strcspn(host, "]") + 1 : strcspn(host, ":/");
	if (hostlen == 0 || (host[0] == '[' && host[hostlen - 1] != ']'))
	{
		*why = "The URL has no host.";
		return false;
	}
	if (host == url + 7 &&
		!((hostlen == 9 && pg_strncasecmp(host, "localhost", 9) == 0) ||
		  (hostlen == 9 && strncmp(host, "127.0.0.1", 9) == 0) ||
		  (hostlen == 5 && strncmp(host, "[::1]", 5) == 0)))
	{
		*why = "Plain http:// is accepted only for localhost, 127.0.0.1 or [::1]: it would send the API key in the clear.";
		return false;
	}
	return true;
}

/* Percent-encode s for a URL path segment or query value (palloc'd). */
char *
vapi_http_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char	   *out = palloc(strlen(s) * 3 + 1);
	char	   *o = out;

	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~')
			*o++ = (char) *p;
		else
		{
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 0xF];
		}
	}
	*o = '\0';
	return out;
}

/* libcurl write callback: append to the Body, up to its cap.  Never raises. */
static size_t
write_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	Body	   *b = (Body *) userdata;
	size_t		n = size * nmemb;

	if (n > b->max - b->len)
	{
		b->too_large = true;
		return 0;
	}
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = Max(Max(b->cap * 2, b->len + n + 1), (size_t) 16384);
		char	   *data;

		cap = Min(cap, b->max + 1);
		if ((data = realloc(b->data, cap)) == NULL)
		{
			b->oom = true;
			return 0;
		}
		b->data = data;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	return n;
}

/* libcurl header callback: keep Retry-After of the latest response.  Never raises. */
static size_t
read_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	Headers    *h = (Headers *) userdata;
	size_t		n = size * nitems;
	size_t		i = 12,
				j = 0;

	if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0)
		h->retry_after[0] = '\0';
	else if (n > 12 && pg_strncasecmp(buf, "retry-after:", 12) == 0)
	{
		while (i < n && (buf[i] == ' ' || buf[i] == '\t'))
			i++;
		while (i < n && buf[i] != '\r' && buf[i] != '\n' && j < sizeof(h->retry_after) - 1)
			h->retry_after[j++] = buf[i++];
		h->retry_after[j] = '\0';
	}
	return n;
}

/*
 * libcurl progress callback, called at least once a second: abort the
 * transfer when a cancel or a termination is pending.  Never raises.
 */
static int
check_cancel(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
			 curl_off_t ultotal, curl_off_t ulnow)
{
	return (QueryCancelPending || ProcDiePending) ? 1 : 0;
}

/* Retry-After in milliseconds (delay-seconds or an HTTP date); -1 if absent or bad. */
static long
retry_after_ms(const char *value)
{
	char	   *end;
	long		secs;
	time_t		when;

	if (value[0] == '\0')
		return -1;
	if (value[0] >= '0' && value[0] <= '9')
	{
		errno = 0;
		secs = strtol(value, &end, 10);
		if (errno != 0 || *end != '\0' || secs > 86400L * 365)
			return -1;
		return secs * 1000;
	}
	if ((when = curl_getdate(value, NULL)) == -1)
		return -1;
	return when <= time(NULL) ? 0 : (long) Min(when - time(NULL), 86400L * 365) * 1000;
}

/* Wait ms milliseconds, answering cancels and postmaster death meanwhile. */
static void
sleep_interruptibly(long ms)
{
	TimestampTz end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
	long		left;

	while ((left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), end)) > 0)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 left, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* Is this transport error worth another attempt? */
static bool
transient_error(CURLcode rc)
{
	return rc == CURLE_COULDNT_CONNECT || rc == CURLE_SEND_ERROR ||
		rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING || rc == CURLE_PARTIAL_FILE;
}

/* Set the options of a request; false if libcurl refused one. */
static bool
set_options(CURL *curl, const char *url, struct curl_slist *headers, Body *body,
			Headers *hdrs, char *errbuf)
{
	return curl_easy_setopt(curl, CURLOPT_URL, url) == CURLE_OK &&
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
		curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK &&
		curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
#if LIBCURL_VERSION_NUM >= 0x075500
		curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http") == CURLE_OK &&
#else
		curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTPS | CURLPROTO_HTTP)) == CURLE_OK &&
#endif
		curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
		curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long) vapi_api_connect_timeout) == CURLE_OK &&
		curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) vapi_api_timeout) == CURLE_OK &&
		curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) body->max) == CURLE_OK &&
		curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK &&
		curl_easy_setopt(curl, CURLOPT_USERAGENT, "vapi_calls") == CURLE_OK &&
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body) == CURLE_OK &&
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, body) == CURLE_OK &&
		curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, read_header) == CURLE_OK &&
		curl_easy_setopt(curl, CURLOPT_HEADERDATA, hdrs) == CURLE_OK &&
		curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, check_cancel) == CURLE_OK &&
		curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L) == CURLE_OK;
}

/* Free the header list, zeroing the Authorization line first. */
static void
free_headers(struct curl_slist *headers)
{
	for (struct curl_slist *h = headers; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(headers);
}

/*
 * Perform the attempts of one GET: retry 429, 5xx and transient transport
 * errors up to vapi.api_retries times, waiting 0.5 s, 1 s, 2 s, ... or what
 * Retry-After asks, never more than vapi.api_max_retry_wait (an answer that
 * asks for longer is returned as it is).  Returns true if a cancel stopped
 * it; the caller frees the handle and then lets the cancel through.
 */
static bool
perform(CURL *curl, Body *body, Headers *hdrs, char *errbuf, VapiHttpResponse *resp)
{
	for (;;)
	{
		CURLcode	rc;
		bool		retry = false;
		long		wait_ms = Min((long) VAPI_RETRY_BASE_MS << Min(resp->attempts, 20),
								  (long) vapi_api_max_retry_wait);

		body->len = 0;
		body->too_large = false;
		hdrs->retry_after[0] = '\0';
		errbuf[0] = '\0';
		resp->attempts++;
		resp->status = 0;

		rc = curl_easy_perform(curl);
		if (rc == CURLE_ABORTED_BY_CALLBACK)
			return true;
		if (body->oom)
			return false;
		if (rc == CURLE_OK)
		{
			curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
			resp->result = VAPI_HTTP_DONE;
			if (resp->status == 429 || resp->status >= 500)
			{
				long		asked = retry_after_ms(hdrs->retry_after);

				retry = true;
				if (asked > vapi_api_max_retry_wait)
					retry = false;
				else if (asked >= 0)
					wait_ms = asked;
			}
		}
		else
		{
			if (body->too_large || rc == CURLE_FILESIZE_EXCEEDED)
				resp->result = VAPI_HTTP_TOO_LARGE;
			else if (rc == CURLE_OPERATION_TIMEDOUT)
				resp->result = VAPI_HTTP_TIMED_OUT;
			else
				resp->result = VAPI_HTTP_UNREACHABLE;
			retry = transient_error(rc);
			if (resp->result == VAPI_HTTP_TOO_LARGE)
				resp->error = psprintf("Vapi's answer is larger than vapi.api_max_response_size (%d kB)",
									   vapi_api_max_response_size);
			else
				resp->error = psprintf("%s%s%s", curl_easy_strerror(rc),
									   errbuf[0] ? ": " : "", errbuf);
		}
		if (!retry || resp->attempts > vapi_api_retries)
			return false;
		elog(DEBUG1, "vapi_calls: attempt %d failed (%s), retrying in %ld ms",
			 resp->attempts, resp->error ? resp->error : "HTTP error", wait_ms);
		resp->error = NULL;
		sleep_interruptibly(wait_ms);
	}
}

/*
 * GET url with the API key as a Bearer token.  resp->result says how it
 * ended; with VAPI_HTTP_DONE, resp->status and resp->body hold the answer
 * of the last attempt.  Raises only for a cancel or running out of memory.
 */
void
vapi_http_get(const char *url, const char *api_key, VapiHttpResponse *resp)
{
	CURL	   *volatile curl = NULL;
	struct curl_slist *volatile headers = NULL;
	Body		body = {0};
	Headers		hdrs = {{0}};
	char		errbuf[CURL_ERROR_SIZE];
	volatile bool cancelled = false;
	char	   *auth;

	memset(resp, 0, sizeof(*resp));
	body.max = (size_t) vapi_api_max_response_size * 1024;
	if (!curl_ready)
	{
		if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("could not initialize libcurl")));
		curl_ready = true;
	}

	PG_TRY();
	{
		struct curl_slist *h;

		auth = psprintf("Authorization: Bearer %s", api_key);
		h = curl_slist_append(NULL, auth);
		explicit_bzero(auth, strlen(auth));
		pfree(auth);
		if (h != NULL)
			headers = h;
		if (h == NULL || (h = curl_slist_append(headers, "Accept: application/json")) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		headers = h;
		if ((curl = curl_easy_init()) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		if (!set_options(curl, url, headers, &body, &hdrs, errbuf))
			elog(ERROR, "vapi_calls: libcurl refused an option");

		cancelled = perform(curl, &body, &hdrs, errbuf, resp);
		if (body.oom)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory reading Vapi's answer")));
		if (!cancelled && resp->result == VAPI_HTTP_DONE)
		{
			resp->body = palloc(body.len + 1);
			if (body.len > 0)
				memcpy(resp->body, body.data, body.len);
			resp->body[body.len] = '\0';
			resp->len = body.len;
		}
	}
	PG_FINALLY();
	{
		if (curl != NULL)
			curl_easy_cleanup(curl);
		if (headers != NULL)
			free_headers(headers);
		free(body.data);
	}
	PG_END_TRY();

	if (cancelled)
	{
		CHECK_FOR_INTERRUPTS();
		/* the cancel was held off: report the request as failed */
		resp->result = VAPI_HTTP_UNREACHABLE;
		resp->error = pstrdup("the request was interrupted");
	}
}
