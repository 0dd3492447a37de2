/* ops.h - operations endpoints: health, readiness, metrics, the contract. */
#ifndef PL_OPS_H
#define PL_OPS_H

#include "http/http.h"

int pl_ops_healthz(pl_req_t *req);
int pl_ops_readyz(pl_req_t *req);
int pl_ops_metrics(pl_req_t *req);
int pl_ops_openapi(pl_req_t *req);

#endif
