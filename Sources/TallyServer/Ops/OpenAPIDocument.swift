/// The OpenAPI 3.0 description of the native API, served at `/openapi.json`.
enum OpenAPIDocument {
    static let json = #"""
{"openapi":"3.0.3",
 "info":{"title":"Tally native API","version":"1.0.0","description":"Exact usage metering: ingest events, read aggregated usage in any time zone."},
 "components":{
  "securitySchemes":{"bearer":{"type":"http","scheme":"bearer"}},
  "schemas":{
   "Error":{"type":"object","required":["error"],"properties":{"error":{"type":"object","required":["code","message"],"properties":{
     "code":{"type":"string"},"message":{"type":"string"},
     "details":{"type":"array","items":{"type":"object","properties":{"line":{"type":"integer"},"parameter":{"type":"string"},"message":{"type":"string"}}}}}}}},
   "Event":{"type":"object","required":["time","account","product"],"additionalProperties":false,"properties":{
     "id":{"type":"string","maxLength":256},"source":{"type":"string","maxLength":256},
     "time":{"type":"string","format":"date-time"},"account":{"type":"string"},"product":{"type":"string"},
     "dimensions":{"type":"object","additionalProperties":{"type":"string"}},
     "metrics":{"type":"object","additionalProperties":{"oneOf":[{"type":"number"},{"type":"string"}]}}}},
   "Receipt":{"type":"object","required":["accepted","duplicates"],"properties":{"accepted":{"type":"integer"},"duplicates":{"type":"integer"}}},
   "Row":{"type":"object","required":["start","end","metrics"],"properties":{
     "start":{"type":"string","format":"date-time"},"end":{"type":"string","format":"date-time"},"account":{"type":"string"},
     "dimensions":{"type":"object","additionalProperties":{"type":"string"}},
     "metrics":{"type":"object","additionalProperties":{"oneOf":[{"type":"integer"},{"type":"string"}]}}}},
   "Usage":{"type":"object","required":["account","product","from","to","bucket","tz","rows","next_cursor","complete_until","plan"],"properties":{
     "account":{"type":"string"},"scope":{"type":"string"},"product":{"type":"string"},
     "from":{"type":"string","format":"date-time"},"to":{"type":"string","format":"date-time"},
     "bucket":{"type":"string"},"tz":{"type":"string"},"week_start":{"type":"string"},
     "group_by":{"type":"array","items":{"type":"string"}},"metrics":{"type":"array","items":{"type":"string"}},
     "complete_until":{"type":"string","format":"date-time"},
     "plan":{"type":"object","properties":{"tier":{"type":"string"},"buckets":{"type":"integer"}}},
     "rows":{"type":"array","items":{"$ref":"#/components/schemas/Row"}},
     "next_cursor":{"type":"string","nullable":true}}}}},
 "security":[{"bearer":[]}],
 "paths":{
  "/v1/events":{"post":{"summary":"Ingest usage events (NDJSON or a JSON array); all or nothing","operationId":"ingestEvents",
    "parameters":[{"name":"Idempotency-Key","in":"header","required":false,"schema":{"type":"string","maxLength":256}}],
    "requestBody":{"required":true,"content":{
      "application/x-ndjson":{"schema":{"type":"string"}},
      "application/json":{"schema":{"type":"array","items":{"$ref":"#/components/schemas/Event"}}}}},
    "responses":{
      "200":{"description":"Committed","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Receipt"}}}},
      "400":{"description":"Invalid events; nothing stored","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Error"}}}},
      "401":{"description":"Missing or unknown token","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Error"}}}},
      "413":{"description":"Body too large","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Error"}}}},
      "422":{"description":"A sum would overflow","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Error"}}}},
      "503":{"description":"Store unavailable; retry","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Error"}}}}}}},
  "/v1/usage":{"get":{"summary":"Aggregated usage of an account subtree","operationId":"getUsage",
    "parameters":[
      {"name":"account","in":"query","schema":{"type":"string"},"description":"id, username or hash inside the caller's subtree (default: the caller)"},
      {"name":"scope","in":"query","schema":{"type":"string","enum":["subtree","node"]}},
      {"name":"product","in":"query","schema":{"type":"string"}},
      {"name":"from","in":"query","required":true,"schema":{"type":"string"},"description":"RFC 3339 instant or YYYY-MM-DD (midnight in tz), inclusive"},
      {"name":"to","in":"query","required":true,"schema":{"type":"string"},"description":"RFC 3339 instant or YYYY-MM-DD (midnight in tz), exclusive"},
      {"name":"bucket","in":"query","schema":{"type":"string","enum":["15m","hour","day","week","month","total"]}},
      {"name":"tz","in":"query","schema":{"type":"string"},"description":"IANA zone, any letter case"},
      {"name":"week_start","in":"query","schema":{"type":"string"}},
      {"name":"group_by","in":"query","schema":{"type":"string"},"description":"comma-separated dimensions, or account"},
      {"name":"metrics","in":"query","schema":{"type":"string"}},
      {"name":"fill","in":"query","schema":{"type":"string","enum":["zero","none"]}},
      {"name":"sort","in":"query","schema":{"type":"string"}},
      {"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":10000}},
      {"name":"cursor","in":"query","schema":{"type":"string"}},
      {"name":"format","in":"query","schema":{"type":"string","enum":["json","csv"]}}],
    "responses":{
      "200":{"description":"The report","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Usage"}},"text/csv":{"schema":{"type":"string"}}}},
      "400":{"description":"Invalid parameters","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Error"}}}},
      "401":{"description":"Missing or unknown token","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Error"}}}},
      "403":{"description":"Service token used for reading","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Error"}}}},
      "404":{"description":"Account not visible","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Error"}}}}}}},
  "/healthz":{"get":{"summary":"Liveness","security":[],"responses":{"200":{"description":"ok","content":{"text/plain":{"schema":{"type":"string"}}}}}}},
  "/readyz":{"get":{"summary":"Readiness (the store answers)","security":[],"responses":{"200":{"description":"ready","content":{"text/plain":{"schema":{"type":"string"}}}},"503":{"description":"not ready","content":{"text/plain":{"schema":{"type":"string"}}}}}}},
  "/metrics":{"get":{"summary":"Prometheus metrics","security":[],"responses":{"200":{"description":"metrics","content":{"text/plain":{"schema":{"type":"string"}}}}}}}}}
"""#
}
