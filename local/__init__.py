"""The local stand-in for everything the deployed system talks to (`make dev`), read from
template.yaml: API Gateway's REST and WebSocket APIs, Lambda, the SQS event source, moto's
AWS services with S3's upload checks, the web client's site, and a fake Gemini.

    __main__.py, stack.py             start it all, print where it serves, stop it
    template.py, symbols.py, model.py the template, its intrinsics resolved as SAM CLI does,
                                      what it declares (functions, routes, event sources)
    provision.py                      its tables, queues, secrets, keys and buckets, in moto
    aws_server.py, moto_dynamodb.py   moto's server, with a faster DynamoDB
    s3.py                             the presigned-POST checks moto does not make
    lambda_runtime.py                 each function in its own worker processes,
    lambda_bootstrap.py                 the worker's side of that
    rest_api.py, websocket_api.py     the two APIs (with the management API),
    gateway.py, events.py               the headers and the events they hand to functions
    event_sources.py                  the SQS event source
    web_site.py                       the web client's site (web/dist and its config.json)
    fake_gemini.py                    Gemini's streaming API, answering without a model
"""
