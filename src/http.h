/*-------------------------------------------------------------------------
 *
 * http.h
 *	  A small HTTPS client for Vapi's REST API, over libcurl (http.c).
 *
 * One GET at a time, in the backend that asked for it: TLS verified,
 * connect and total timeouts, 429 and 5xx retried with a bounded backoff
 * that honours Retry-After, a cap on the size of an answer, and a cancel
 * (statement_timeout, pg_cancel_backend) honoured in the middle of a
 * request.  The settings are defined in guc.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef VAPI_HTTP_H
#define VAPI_HTTP_H

#include "postgres.h"

/* Settings (guc.c) */
extern char *vapi_api_url;
extern int	vapi_api_connect_timeout;	/* ms */
extern int	vapi_api_timeout;	/* ms, per attempt */
extern int	vapi_api_max_response_size; /* kB */
extern int	vapi_api_retries;
extern int	vapi_api_max_retry_wait;	/* ms */
extern int	vapi_api_page_size;

/* How a request ended. */
typedef enum VapiHttpResult
{
	VAPI_HTTP_DONE,				/* an answer (of any status) came back */
	VAPI_HTTP_UNREACHABLE,		/* could not resolve, connect or talk */
	VAPI_HTTP_TIMED_OUT,		/* vapi.api_timeout or the connect timeout */
	VAPI_HTTP_TOO_LARGE			/* the answer passed vapi.api_max_response_size */
} VapiHttpResult;

typedef struct VapiHttpResponse
{
	VapiHttpResult result;
	long		status;			/* HTTP status of the last attempt; 0 if none */
	char	   *body;			/* palloc'd and NUL-terminated (VAPI_HTTP_DONE) */
	size_t		len;
	int			attempts;
	char	   *error;			/* a sentence, unless VAPI_HTTP_DONE */
} VapiHttpResponse;

extern bool vapi_check_api_url(const char *url, const char **why);
extern void vapi_http_get(const char *url, const char *api_key, VapiHttpResponse *resp);
extern char *vapi_http_escape(const char *s);

#endif							/* VAPI_HTTP_H */
