import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  NotFoundException,
  Param,
  ParseIntPipe,
  Post,
  Res,
} from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { JobsService } from 'nestjs-typeorm-jobs';
import { DataSource, Repository } from 'typeorm';
import { Invoice } from './invoice.entity.js';
import { INVOICE_PAY } from './invoice.jobs.js';
import { Payment } from './payment.entity.js';

const MAX_AMOUNT_CENTS = 100_000_000;

/** Invoices: created with the job that pays them, and read back with their payments. */
@Controller('invoices')
export class InvoiceController {
  constructor(
    private readonly jobs: JobsService,
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectRepository(Invoice) private readonly invoices: Repository<Invoice>,
    @InjectRepository(Payment) private readonly payments: Repository<Payment>,
  ) {}

  /**
   * `POST /invoices` with `{ "customer": "ACME", "amountCents": 12500 }`: creates the invoice and
   * its `invoice.pay` job in one transaction (both exist, or neither), and answers 202 with both;
   * Location is the invoice's URL.
   */
  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  async create(
    @Body() body: unknown,
    @Res({ passthrough: true }) response: ServerResponse,
  ): Promise<{ invoice: Invoice; job: { id: number; status: string; location: string } }> {
    const { customer, amountCents } = invoiceBody(body);
    const { invoice, job } = await this.dataSource.transaction(async (manager) => {
      const invoice = await manager.save(Invoice, {
        customer,
        amountCents,
        jobId: null,
        paidAt: null,
      });
      const job = await this.jobs.enqueue(INVOICE_PAY, { invoiceId: invoice.id }, { manager });
      await manager.update(Invoice, invoice.id, { jobId: job.id });
      return { invoice: { ...invoice, jobId: job.id }, job };
    });
    response.setHeader('Location', `/invoices/${invoice.id}`);
    return { invoice, job: { id: job.id, status: job.status, location: `/api/jobs/${job.id}` } };
  }

  /** `GET /invoices/1`: the invoice, `paidAt` set once paid, with the payments taken for it. */
  @Get(':id')
  async get(@Param('id', ParseIntPipe) id: number): Promise<Invoice & { payments: Payment[] }> {
    const invoice = await this.invoices.findOneBy({ id });
    if (!invoice) throw new NotFoundException(`No invoice ${id}.`);
    const payments = await this.payments.find({ where: { invoiceId: id }, order: { id: 'ASC' } });
    return { ...invoice, payments };
  }
}

function invoiceBody(body: unknown): { customer: string; amountCents: number } {
  const { customer, amountCents: value } = (body ?? {}) as Record<string, unknown>;
  if (typeof customer !== 'string' || customer.trim() === '' || customer.length > 200) {
    throw new BadRequestException('"customer" must be a name of 1 to 200 characters.');
  }
  // A form sends numbers as text.
  const amountCents = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (
    typeof amountCents !== 'number' ||
    !Number.isInteger(amountCents) ||
    amountCents < 1 ||
    amountCents > MAX_AMOUNT_CENTS
  ) {
    throw new BadRequestException(
      `"amountCents" must be an integer from 1 to ${MAX_AMOUNT_CENTS}.`,
    );
  }
  return { customer, amountCents };
}
