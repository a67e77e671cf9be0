import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { InvoiceController } from './invoice.controller.js';
import { Invoice } from './invoice.entity.js';
import { InvoiceJobs } from './invoice.jobs.js';
import { Payment } from './payment.entity.js';

@Module({
  imports: [TypeOrmModule.forFeature([Invoice, Payment])],
  controllers: [InvoiceController],
  providers: [InvoiceJobs],
})
export class InvoiceModule {}
