"""Request logging: every request becomes a RequestLog row, without costing the request a write.

    web process (hot path)                  Redis                   worker (tasks.py)
    ---------------------                  -----                   -----------------
    RequestLogMiddleware
      -> records.build_record()
      -> buffer.log_buffer.append()
           | flush thread, <= 1/s
           v
         stream.publish() ---- XADD ---->  stream (keys.STREAM)
                            - SET NX --->  drain-pending marker ---> drain_request_logs
                                                                      -> drain.drain()
                                                                         XREADGROUP / XAUTOCLAIM
                                                                         store.store_records()
                                                                           geolocation (bounded)
                                                                           INSERT rows + rollups
                                                                         XACK + XDEL

Redis down: the buffer writes its batches straight to the database (store.store_records,
no network). Both down: batches are kept, encoded, and retried with backoff. Rows older than
SECURITY_LOG_RETENTION_DAYS go hourly (retention.py). Every Redis key is named in keys.py.
"""
