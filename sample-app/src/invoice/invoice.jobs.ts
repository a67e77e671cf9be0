import { Injectable, Logger } from '@nestjs/common';
import { JobKind, defineJobKind, type JobContext } from 'nestjs-typeorm-jobs';
import { Invoice } from './invoice.entity.js';
import { Payment } from './payment.entity.js';

/** Which invoice to pay. */
export interface InvoicePayload {
  invoiceId: number;
}

/** What a paid invoice returns; kept as the job's `result`. */
export interface InvoicePaid {
  invoiceId: number;
  paymentId: number;
  amountCents: number;
}

export const INVOICE_PAY = defineJobKind<InvoicePayload>('invoice.pay');

/** Pays invoices, each exactly once. */
@Injectable()
export class InvoiceJobs {
  private readonly logger = new Logger(InvoiceJobs.name);

  /**
   * Records the payment and marks the invoice paid inside `job.transaction`: one transaction of the
   * app's database that also stores this job's success (its result is what the callback returns).
   * Both commit, or neither does: a crash before the commit leaves the invoice unpaid and the job to
   * run again; after it, the job has succeeded and is never run again. So no "paid already?" check
   * is needed. (A real app would charge its payment provider before the transaction, with the job's
   * id as the idempotency key: a provider is outside this database, which no transaction covers.)
   */
  @JobKind(INVOICE_PAY, { maxAttempts: 5, backoff: 1_000 })
  async pay(job: JobContext<InvoicePayload>): Promise<InvoicePaid> {
    const { invoiceId } = job.data;
    this.logger.log(
      `job #${job.id} attempt ${job.attempt}/${job.maxAttempts}: invoice #${invoiceId}`,
    );
    return job.transaction(async (manager) => {
      const invoice = await manager.findOneBy(Invoice, { id: invoiceId });
      if (!invoice) throw new Error(`invoice ${invoiceId} does not exist`);
      const payment = await manager.save(Payment, {
        invoiceId,
        amountCents: invoice.amountCents,
        jobId: job.id,
      });
      await manager.update(Invoice, invoiceId, { paidAt: new Date() });
      job.log(`paid ${invoice.amountCents} cents for invoice #${invoiceId}`);
      return { invoiceId, paymentId: payment.id, amountCents: invoice.amountCents };
    });
  }
}
