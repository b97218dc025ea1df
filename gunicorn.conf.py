"""gunicorn reads this file from the working directory (make run, the Docker image).

URLs up to 16 KB reach Django, which answers those over CRISP_MAX_URL_LENGTH (8 KB) with a JSON 414
under /api/; gunicorn's own default (4 KB) would answer with a plain-text 400 instead.
"""

limit_request_line = 16384
