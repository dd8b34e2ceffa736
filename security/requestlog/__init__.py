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
                            - WAIT ----->  a replica's ack                -> drain.drain()
                              (behind Sentinel)                          consumers.orphaned()
                                                                         XREADGROUP / XAUTOCLAIM
                                                                         store.store_records()
                                                                           geolocation (bounded)
                                                                           INSERT rows + rollups
                                                                         after_store(new rows)
                                                                           (tasks.py passes
                                                                           streaming detection)
                                                                         XACK + XDEL

Redis down: the buffer writes its batches straight to the database (store.store_records,
no network). Both down: batches are kept, encoded, and retried every 2 s at most. A batch the
database refuses is retried by its drain until it goes in, or handed back; what a gone worker
process held is taken over by the next drain (consumers.py). Rows older than
SECURITY_LOG_RETENTION_DAYS go hourly (retention.py); on PostgreSQL the log is partitioned
by day and whole days are dropped (partitions.py). Every Redis key is named in keys.py.
"""
