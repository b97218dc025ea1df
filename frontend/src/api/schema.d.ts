// Generated from GET /api/schema/ by `npm run api:types` (openapi-typescript). Do not edit.

export interface paths {
    "/api/auth/me/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** @description Who is logged in: the dashboard decides what to offer from this. */
        get: operations["auth_me_retrieve"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/auth/token/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** @description POST {"username", "password"} → {"token"}; failed attempts are throttled (CRISP_LOGIN_THROTTLE). */
        post: operations["auth_token_create"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/indicators/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** @description Detail routes take a database id: digits only, and never beyond a bigint (404, not a 500). */
        get: operations["indicators_list"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/indicators/{id}/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** @description Detail routes take a database id: digits only, and never beyond a bigint (404, not a 500). */
        get: operations["indicators_retrieve"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/indicators/export/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A blocklist of indicator values, one a line (txt) or CSV with a header, streamed */
        get: operations["indicators_export_retrieve"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/stix-objects/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** @description Detail routes take a database id: digits only, and never beyond a bigint (404, not a 500). */
        get: operations["stix_objects_list"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/stix-objects/{id}/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** @description Detail routes take a database id: digits only, and never beyond a bigint (404, not a 500). */
        get: operations["stix_objects_retrieve"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/stix-objects/export/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A STIX bundle of the selected objects (current versions, exactly as received), streamed */
        get: operations["stix_objects_export_retrieve"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/threat-feeds/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** @description Detail routes take a database id: digits only, and never beyond a bigint (404, not a 500). */
        get: operations["threat_feeds_list"];
        put?: never;
        /** @description Detail routes take a database id: digits only, and never beyond a bigint (404, not a 500). */
        post: operations["threat_feeds_create"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/threat-feeds/{id}/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** @description Detail routes take a database id: digits only, and never beyond a bigint (404, not a 500). */
        get: operations["threat_feeds_retrieve"];
        put?: never;
        post?: never;
        /** @description Detail routes take a database id: digits only, and never beyond a bigint (404, not a 500). */
        delete: operations["threat_feeds_destroy"];
        options?: never;
        head?: never;
        /** @description Detail routes take a database id: digits only, and never beyond a bigint (404, not a 500). */
        patch: operations["threat_feeds_partial_update"];
        trace?: never;
    };
    "/api/threat-feeds/{id}/cancel_consumption/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** @description Detail routes take a database id: digits only, and never beyond a bigint (404, not a 500). */
        post: operations["threat_feeds_cancel_consumption_create"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/threat-feeds/{id}/consume/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** @description Detail routes take a database id: digits only, and never beyond a bigint (404, not a 500). */
        post: operations["threat_feeds_consume_create"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/threat-feeds/{id}/upload/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** @description Detail routes take a database id: digits only, and never beyond a bigint (404, not a 500). */
        post: operations["threat_feeds_upload_create"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/threat-feeds/cancel-task/{task_id}/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post: operations["threat_feeds_cancel_task_create"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/threat-feeds/task-status/{task_id}/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** @description The run's live snapshot from Redis (no query), or from the database when Redis has none. */
        get: operations["threat_feeds_task_status_retrieve"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/threat-feeds/tasks/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["threat_feeds_tasks_list"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/threat-feeds/tasks/{task_id}/undo/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** @description Undo a finished run: its writes are rolled back as by cancel_job; status becomes `undone`. */
        post: operations["threat_feeds_tasks_undo_create"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        _Cancellation: {
            /** Format: date-time */
            acknowledged_at: string | null;
            escalated: boolean;
            /** Format: double */
            latency_ms: number | null;
            mode: components["schemas"]["ModeEnum"];
            objects_kept: number | null;
            objects_removed: number | null;
            objects_restored: number | null;
            reason: string;
            /** Format: date-time */
            requested_at: string;
            requested_by: string | null;
            source: string;
        };
        _Error: {
            code: string;
            detail: string;
        };
        _FeedRef: {
            id: number;
            name: string;
            source_type: components["schemas"]["SourceTypeEnum"];
        };
        _Progress: {
            created: number;
            errors: number;
            /** Format: double */
            eta_seconds: number | null;
            fetched: number;
            invalid: number;
            pages: number;
            /** Format: double */
            percent: number | null;
            /** Format: double */
            rate_per_second: number | null;
            total_expected: number | null;
            unchanged: number;
            updated: number;
        };
        _Undo: {
            /** @description The feed's cursor went back to where the run started. */
            cursor_restored: boolean;
            indicators_removed: number | null;
            /** Format: double */
            latency_ms: number | null;
            objects_removed: number | null;
            objects_restored: number | null;
            reason: string;
            /** Format: date-time */
            requested_at: string;
            requested_by: string | null;
            source: string;
            /** Format: date-time */
            undone_at: string | null;
        };
        BoundedAuthToken: {
            password: string;
            readonly token: string;
            username: string;
        };
        CancelRequest: {
            mode: components["schemas"]["ModeEnum"];
            /** @default  */
            reason: string;
        };
        Indicator: {
            /** Format: date-time */
            enriched_at?: string | null;
            enrichment?: unknown;
            /** Format: date-time */
            first_seen_at: string;
            readonly id: number;
            kind: string;
            value: string;
        };
        IndicatorDetail: {
            /** Format: date-time */
            enriched_at?: string | null;
            enrichment?: unknown;
            /** Format: date-time */
            first_seen_at: string;
            readonly id: number;
            kind: string;
            readonly provenance_links: {
                [key: string]: unknown;
            }[];
            value: string;
        };
        /**
         * @description * `stop_now` - Stop Now
         *     * `cancel_job` - Cancel Job
         * @enum {string}
         */
        ModeEnum: "stop_now" | "cancel_job";
        /** @enum {unknown} */
        NullEnum: null;
        PaginatedIndicatorList: {
            /** @example 123 */
            count: number;
            /**
             * Format: uri
             * @example http://api.example.org/accounts/?page=4
             */
            next?: string | null;
            /**
             * Format: uri
             * @example http://api.example.org/accounts/?page=2
             */
            previous?: string | null;
            results: components["schemas"]["Indicator"][];
        };
        PaginatedRunSnapshotList: {
            /** @example 123 */
            count: number;
            /**
             * Format: uri
             * @example http://api.example.org/accounts/?page=4
             */
            next?: string | null;
            /**
             * Format: uri
             * @example http://api.example.org/accounts/?page=2
             */
            previous?: string | null;
            results: components["schemas"]["RunSnapshot"][];
        };
        PaginatedStixObjectList: {
            /** @example 123 */
            count: number;
            /**
             * Format: uri
             * @example http://api.example.org/accounts/?page=4
             */
            next?: string | null;
            /**
             * Format: uri
             * @example http://api.example.org/accounts/?page=2
             */
            previous?: string | null;
            results: components["schemas"]["StixObject"][];
        };
        PaginatedThreatFeedList: {
            /** @example 123 */
            count: number;
            /**
             * Format: uri
             * @example http://api.example.org/accounts/?page=4
             */
            next?: string | null;
            /**
             * Format: uri
             * @example http://api.example.org/accounts/?page=2
             */
            previous?: string | null;
            results: components["schemas"]["ThreatFeed"][];
        };
        PatchedThreatFeed: {
            api_key?: string;
            auto_resume?: boolean;
            readonly can_edit?: boolean;
            collection_id?: string;
            /** Format: date-time */
            readonly created_at?: string;
            readonly credentials?: {
                [key: string]: boolean;
            };
            readonly cursor?: unknown;
            readonly has_upload?: boolean;
            readonly id?: number;
            is_active?: boolean;
            readonly last_run?: components["schemas"]["RunSnapshot"] | null;
            name?: string;
            readonly owner?: string;
            page_size?: number;
            password?: string;
            /** @description Minutes between runs (at most a year), or null. */
            schedule?: number | null;
            /** @description Source-specific options (keys per source type; see README). Users who may not edit the feed see only `demo`. */
            settings?: unknown;
            /** @description Usernames who may edit and start the feed besides its owner and staff. Set by the owner or staff. */
            shared_with?: string[];
            source_type?: components["schemas"]["SourceTypeEnum"];
            url?: string;
            username?: string;
        };
        /** @description Read-only: documents the snapshot for OpenAPI; `run_snapshot` builds it. */
        RunSnapshot: {
            can_cancel: boolean;
            /** @description Finished, not rolled back, and this user may undo it. */
            can_undo: boolean;
            cancellation: components["schemas"]["_Cancellation"] | null;
            cursor_after: {
                [key: string]: unknown;
            };
            cursor_before: {
                [key: string]: unknown;
            };
            error: components["schemas"]["_Error"] | null;
            /** @description History: started (worker), requeued (worker_shutdown / message_lost), terminated, revoked, resumed. */
            events: {
                [key: string]: unknown;
            }[];
            feed: components["schemas"]["_FeedRef"];
            /** Format: date-time */
            finished_at: string | null;
            /** Format: date-time */
            heartbeat_at: string | null;
            invalid_samples: string[];
            progress: components["schemas"]["_Progress"];
            /** Format: date-time */
            queued_at: string;
            requested_by: string | null;
            /** @description Times its queue message was lost and sent again. */
            requeues: number;
            /**
             * Format: uuid
             * @description Task id of the interrupted run it resumes.
             */
            resumed_from: string | null;
            run_id: number;
            stage: (components["schemas"]["StageEnum"] | components["schemas"]["NullEnum"]) | null;
            /** Format: date-time */
            started_at: string | null;
            status: components["schemas"]["StatusEnum"];
            /** Format: uuid */
            task_id: string;
            trigger: components["schemas"]["TriggerEnum"];
            undo: components["schemas"]["_Undo"] | null;
        };
        /**
         * @description * `taxii21` - TAXII 2.1 collection
         *     * `stix_bundle` - STIX bundle
         *     * `otx` - AlienVault OTX
         *     * `virustotal` - VirusTotal enrichment
         * @enum {string}
         */
        SourceTypeEnum: "taxii21" | "stix_bundle" | "otx" | "virustotal";
        /**
         * @description * `connecting` - Connecting
         *     * `fetching` - Fetching
         *     * `storing` - Storing
         *     * `enriching` - Enriching
         *     * `waiting` - Waiting
         *     * `rolling_back` - Rolling Back
         *     * `finalizing` - Finalizing
         * @enum {string}
         */
        StageEnum: "connecting" | "fetching" | "storing" | "enriching" | "waiting" | "rolling_back" | "finalizing";
        /**
         * @description * `queued` - Queued
         *     * `running` - Running
         *     * `stopping` - Stopping
         *     * `cancelling` - Cancelling
         *     * `completed` - Completed
         *     * `failed` - Failed
         *     * `stopped` - Stopped
         *     * `cancelled` - Cancelled
         *     * `interrupted` - Interrupted
         *     * `undone` - Undone
         * @enum {string}
         */
        StatusEnum: "queued" | "running" | "stopping" | "cancelling" | "completed" | "failed" | "stopped" | "cancelled" | "interrupted" | "undone";
        StixObject: {
            /** Format: date-time */
            created?: string | null;
            data: unknown;
            /** Format: date-time */
            first_seen_at: string;
            readonly id: number;
            /** Format: date-time */
            modified?: string | null;
            spec_version?: string;
            stix_id: string;
            type: string;
            /** Format: date-time */
            updated_at: string;
        };
        StixObjectDetail: {
            /** Format: date-time */
            created?: string | null;
            data: unknown;
            /** Format: date-time */
            first_seen_at: string;
            readonly id: number;
            /** Format: date-time */
            modified?: string | null;
            readonly provenance_links: {
                [key: string]: unknown;
            }[];
            spec_version?: string;
            stix_id: string;
            type: string;
            /** Format: date-time */
            updated_at: string;
            /** @description Every version kept, newest first, with the feeds and runs that delivered each. */
            readonly versions: {
                [key: string]: unknown;
            }[];
        };
        ThreatFeed: {
            api_key?: string;
            auto_resume?: boolean;
            readonly can_edit: boolean;
            collection_id?: string;
            /** Format: date-time */
            readonly created_at: string;
            readonly credentials: {
                [key: string]: boolean;
            };
            readonly cursor: unknown;
            readonly has_upload: boolean;
            readonly id: number;
            is_active?: boolean;
            readonly last_run: components["schemas"]["RunSnapshot"] | null;
            name: string;
            readonly owner: string;
            page_size?: number;
            password?: string;
            /** @description Minutes between runs (at most a year), or null. */
            schedule?: number | null;
            /** @description Source-specific options (keys per source type; see README). Users who may not edit the feed see only `demo`. */
            settings?: unknown;
            /** @description Usernames who may edit and start the feed besides its owner and staff. Set by the owner or staff. */
            shared_with?: string[];
            source_type: components["schemas"]["SourceTypeEnum"];
            url?: string;
            username?: string;
        };
        /**
         * @description * `api` - Api
         *     * `dashboard` - Dashboard
         *     * `schedule` - Schedule
         *     * `cli` - Cli
         *     * `resume` - Resume
         *     * `celery` - Celery
         * @enum {string}
         */
        TriggerEnum: "api" | "dashboard" | "schedule" | "cli" | "resume" | "celery";
        UndoRequest: {
            /** @default  */
            reason: string;
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    auth_me_retrieve: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        is_staff?: boolean;
                        username?: string;
                    };
                };
            };
        };
    };
    auth_token_create: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["BoundedAuthToken"];
                "application/x-www-form-urlencoded": components["schemas"]["BoundedAuthToken"];
                "multipart/form-data": components["schemas"]["BoundedAuthToken"];
            };
        };
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["BoundedAuthToken"];
                };
            };
        };
    };
    indicators_list: {
        parameters: {
            query?: {
                feed?: number;
                kind?: string;
                /** @description A page number within the paginated result set. */
                page?: number;
                run?: number;
                task_id?: string;
                value?: string;
                value_contains?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PaginatedIndicatorList"];
                };
            };
        };
    };
    indicators_retrieve: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["IndicatorDetail"];
                };
            };
        };
    };
    indicators_export_retrieve: {
        parameters: {
            query?: {
                /** @description values a run of this feed delivered */
                feed?: number;
                first_seen_after?: string;
                /** @description default txt */
                format?: "csv" | "txt";
                /** @description indicator kind(s), comma-separated, e.g. ipv4,domain */
                kind?: string;
                /** @description VirusTotal: at least N engines said malicious */
                min_malicious?: number;
                /** @description values this run delivered */
                run?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description one value a line */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/csv": string;
                    "text/plain": string;
                };
            };
            /** @description {"detail", "code", "errors"} */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        [key: string]: unknown;
                    };
                };
            };
        };
    };
    stix_objects_list: {
        parameters: {
            query?: {
                feed?: number;
                /** @description A page number within the paginated result set. */
                page?: number;
                run?: number;
                search?: string;
                spec_version?: string;
                stix_id?: string;
                task_id?: string;
                type?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PaginatedStixObjectList"];
                };
            };
        };
    };
    stix_objects_retrieve: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["StixObjectDetail"];
                };
            };
        };
    };
    stix_objects_export_retrieve: {
        parameters: {
            query?: {
                /** @description objects a run of this feed delivered */
                feed?: number;
                /** @description `modified` strictly after */
                modified_after?: string;
                /** @description objects this run delivered */
                run?: number;
                /** @description STIX type, e.g. indicator */
                type?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description a STIX bundle */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        [key: string]: unknown;
                    };
                };
            };
            /** @description {"detail", "code", "errors"} */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        [key: string]: unknown;
                    };
                };
            };
        };
    };
    threat_feeds_list: {
        parameters: {
            query?: {
                /** @description A page number within the paginated result set. */
                page?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PaginatedThreatFeedList"];
                };
            };
        };
    };
    threat_feeds_create: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ThreatFeed"];
                "application/x-www-form-urlencoded": components["schemas"]["ThreatFeed"];
                "multipart/form-data": components["schemas"]["ThreatFeed"];
            };
        };
        responses: {
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ThreatFeed"];
                };
            };
        };
    };
    threat_feeds_retrieve: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ThreatFeed"];
                };
            };
        };
    };
    threat_feeds_destroy: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description No response body */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
    threat_feeds_partial_update: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["PatchedThreatFeed"];
                "application/x-www-form-urlencoded": components["schemas"]["PatchedThreatFeed"];
                "multipart/form-data": components["schemas"]["PatchedThreatFeed"];
            };
        };
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ThreatFeed"];
                };
            };
        };
    };
    threat_feeds_cancel_consumption_create: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CancelRequest"];
                "application/x-www-form-urlencoded": components["schemas"]["CancelRequest"];
                "multipart/form-data": components["schemas"]["CancelRequest"];
            };
        };
        responses: {
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunSnapshot"];
                };
            };
        };
    };
    threat_feeds_consume_create: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunSnapshot"];
                };
            };
        };
    };
    threat_feeds_upload_create: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "multipart/form-data": {
                    /** Format: binary */
                    file?: string;
                };
            };
        };
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ThreatFeed"];
                };
            };
        };
    };
    threat_feeds_cancel_task_create: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                task_id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CancelRequest"];
                "application/x-www-form-urlencoded": components["schemas"]["CancelRequest"];
                "multipart/form-data": components["schemas"]["CancelRequest"];
            };
        };
        responses: {
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunSnapshot"];
                };
            };
        };
    };
    threat_feeds_task_status_retrieve: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                task_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunSnapshot"];
                };
            };
        };
    };
    threat_feeds_tasks_list: {
        parameters: {
            query?: {
                active?: boolean;
                feed?: number;
                /** @description A page number within the paginated result set. */
                page?: number;
                /**
                 * @description * `queued` - Queued
                 *     * `running` - Running
                 *     * `stopping` - Stopping
                 *     * `cancelling` - Cancelling
                 *     * `completed` - Completed
                 *     * `failed` - Failed
                 *     * `stopped` - Stopped
                 *     * `cancelled` - Cancelled
                 *     * `interrupted` - Interrupted
                 *     * `undone` - Undone
                 */
                status?: ("cancelled" | "cancelling" | "completed" | "failed" | "interrupted" | "queued" | "running" | "stopped" | "stopping" | "undone")[];
                /**
                 * @description * `api` - Api
                 *     * `dashboard` - Dashboard
                 *     * `schedule` - Schedule
                 *     * `cli` - Cli
                 *     * `resume` - Resume
                 *     * `celery` - Celery
                 */
                trigger?: "api" | "celery" | "cli" | "dashboard" | "resume" | "schedule";
                user?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PaginatedRunSnapshotList"];
                };
            };
        };
    };
    threat_feeds_tasks_undo_create: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                task_id: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["UndoRequest"];
                "application/x-www-form-urlencoded": components["schemas"]["UndoRequest"];
                "multipart/form-data": components["schemas"]["UndoRequest"];
            };
        };
        responses: {
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunSnapshot"];
                };
            };
        };
    };
}
