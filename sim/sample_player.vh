// The sample player and the cycle counter that every harness shares (``include``d into the
// harness module by sim.top.render_harness). The harness declares the ports (clk, rst,
// sample_req, beat_count, gap_thr, stall_thr, seed, sample_done, cycles), the parameters
// EVENT_W, END_BIT and MAX_BEATS, the core's stream wires (in_payload, in_valid, in_ready,
// out_payload, out_valid, out_ready) and core_idle; this opens `trace.log` as log_fd.
//
// It streams beat_count beats of `beats.hex` into the core's input, dropping valid in a cycle
// with probability gap_thr / 65536, and takes output beats with ready dropped with probability
// stall_thr / 65536 (a free-running LFSR seeded by `seed`). Every output beat taken is logged
// as "O<hex>"; done rises once the END beat (bit END_BIT of the payload set) has been taken
// and core_idle is high (the harness's: a chain's lower cores may still be clearing then).

    integer log_fd;
    initial log_fd = $fopen("trace.log", "w");

    always @(posedge clk)
        cycles <= rst ? 64'd0 : cycles + 64'd1;

    // ---------------- pseudo-random gaps and stalls ----------------
    reg [31:0] lfsr;
    reg sample_req_seen;
    always @(posedge clk)
        if (rst)
            lfsr <= 32'd1;
        else if (sample_req != sample_req_seen)
            lfsr <= (seed == 32'd0) ? 32'd1 : seed;
        else  // Galois LFSR, x^32 + x^22 + x^2 + x + 1
            lfsr <= (lfsr >> 1) ^ (lfsr[0] ? 32'h80200003 : 32'd0);

    // ---------------- sample player ----------------
    reg [EVENT_W-1:0] beats [0:MAX_BEATS-1];
    reg [31:0] beat_ptr;
    reg sample_busy, end_taken;
    wire gap = lfsr[15:0] < gap_thr;
    wire stall = lfsr[31:16] < stall_thr;
    wire out_is_end = out_payload[END_BIT];

    assign in_payload = beats[beat_ptr];
    assign in_valid = sample_busy && beat_ptr < beat_count && !gap;
    assign out_ready = sample_busy && !stall;

    always @(posedge clk) begin
        if (rst) begin
            sample_busy <= 1'b0;
            end_taken <= 1'b0;
            sample_done <= 1'b0;
            sample_req_seen <= 1'b0;
        end else if (sample_req != sample_req_seen) begin
            sample_req_seen <= sample_req;
            $readmemh("beats.hex", beats, 0, beat_count - 1);
            beat_ptr <= 32'd0;
            sample_busy <= 1'b1;
            sample_done <= 1'b0;
        end else if (sample_busy) begin
            if (in_valid && in_ready)
                beat_ptr <= beat_ptr + 32'd1;
            if (out_valid && out_ready) begin
                $fwrite(log_fd, "O%h\n", out_payload);
                if (out_is_end) begin
                    sample_busy <= 1'b0;
                    end_taken <= 1'b1;
                end
            end
        end
        if (!rst && end_taken && core_idle) begin  // the END taken and every core drained
            end_taken <= 1'b0;
            sample_done <= 1'b1;
            $fflush(log_fd);
        end
    end

