-- Grain: one row per account with at least one won contract signed on or before the report
-- date. Key: account_id.
--
-- Bind parameters (named without their colon here, because SQLAlchemy would bind them even
-- inside a comment):
--   as_of_date  the report date; contracts, churns and other outcomes after it are ignored.
--   as_of       the report time; gifts sent after it do not count yet. A sent gift with no
--               sent_at counts as sent, and first_sent_at ignores it. Activities and support
--               cases after it do not count either.
--   reply_kinds    activity kinds that record a reply from the customer (Task types, lower
--                  case, from engagement.reply_task_types in config/salesforce.yaml).
--   meeting_kinds  activity kinds that record a meeting (the Event kinds).
--
-- The caller ends survival at the earlier of churned_on and non_renewed_on. Renewals count won
-- renewal deals closed after the first signing day.
--
-- Engagement counts activities and cases from the signing day on, so the sales cycle before
-- the contract does not count as engagement with the customer.
--
-- Date differences (durations, the 365-day expansion window) are computed by the caller,
-- because SQLite and PostgreSQL share no function that subtracts two dates.
--
-- Gifts, outcomes, activities and cases each have an index that starts with account_id and
-- contains every column read here (migration 0004), so SQLite aggregates them from the index
-- alone. A column added here that its index lacks costs a table lookup per row on SQLite.
-- NOTE: on SQLite the grouping and joining of the CTEs, not the table reads, are most of this
-- query's time (about 17 s of CPU at 1M accounts; see the Cohort report section of BENCHMARKS.md).

with won_contracts as (

    select
        account_id,
        signed_on,
        amount
    from contracts
    where status = 'won'
      and signed_on <= :as_of_date

),

signings as (

    select
        account_id,
        min(signed_on) as signed_on,
        sum(amount) as contract_amount
    from won_contracts
    group by account_id

),

sent_gifts as (

    select
        account_id,
        count(*) as gifts_sent,
        sum(price) as gift_spend,
        min(sent_at) as first_sent_at
    from gifts
    where status in ('sent', 'delivered')
      and (sent_at is null or sent_at <= :as_of)
    group by account_id

),

churns as (

    select
        outcomes.account_id,
        min(outcomes.occurred_on) as churned_on
    from outcomes
    inner join signings
        on signings.account_id = outcomes.account_id
    where outcomes.kind = 'churn'
      and outcomes.occurred_on >= signings.signed_on
      and outcomes.occurred_on <= :as_of_date
    group by outcomes.account_id

),

expansions as (

    select
        outcomes.account_id,
        min(outcomes.occurred_on) as first_expansion_on,
        sum(outcomes.amount) as expansion_amount
    from outcomes
    inner join signings
        on signings.account_id = outcomes.account_id
    where outcomes.kind = 'expansion'
      and outcomes.occurred_on >= signings.signed_on
      and outcomes.occurred_on <= :as_of_date
    group by outcomes.account_id

),

nps_scores as (

    select
        account_id,
        avg(score) as nps
    from outcomes
    where kind = 'nps'
      and score is not null
      and (occurred_on is null or occurred_on <= :as_of_date)
    group by account_id

),

referrals as (

    select
        account_id,
        sum(score) as referrals
    from outcomes
    where kind = 'referral'
      and (occurred_on is null or occurred_on <= :as_of_date)
    group by account_id

),

engagement as (

    select
        activities.account_id,
        sum(case when activities.kind in :reply_kinds then 1 else 0 end) as replies,
        sum(case when activities.kind in :meeting_kinds then 1 else 0 end) as meetings
    from activities
    inner join signings
        on signings.account_id = activities.account_id
    where activities.is_deleted = false
      and activities.occurred_at >= signings.signed_on
      and activities.occurred_at <= :as_of
    group by activities.account_id

),

support_cases as (

    select
        cases.account_id,
        count(*) as support_cases
    from cases
    inner join signings
        on signings.account_id = cases.account_id
    where cases.is_deleted = false
      and cases.opened_at >= signings.signed_on
      and cases.opened_at <= :as_of
    group by cases.account_id

),

non_renewals as (

    select
        outcomes.account_id,
        min(outcomes.occurred_on) as non_renewed_on
    from outcomes
    inner join signings
        on signings.account_id = outcomes.account_id
    where outcomes.kind = 'non_renewal'
      and outcomes.occurred_on >= signings.signed_on
      and outcomes.occurred_on <= :as_of_date
    group by outcomes.account_id

),

renewals as (

    select
        outcomes.account_id,
        count(*) as renewals
    from outcomes
    inner join signings
        on signings.account_id = outcomes.account_id
    where outcomes.kind = 'renewal'
      and outcomes.occurred_on > signings.signed_on
      and outcomes.occurred_on <= :as_of_date
    group by outcomes.account_id

),

-- A checkbox has no date, so an undated testimonial or case study counts whenever it was given.
advocacy as (

    select
        outcomes.account_id,
        max(case when outcomes.kind = 'testimonial' then 1 else 0 end) as testimonial,
        max(case when outcomes.kind = 'case_study' then 1 else 0 end) as case_study
    from outcomes
    inner join signings
        on signings.account_id = outcomes.account_id
    where outcomes.kind in ('testimonial', 'case_study')
      and outcomes.score > 0
      and (
          outcomes.occurred_on is null
          or (outcomes.occurred_on >= signings.signed_on and outcomes.occurred_on <= :as_of_date)
      )
    group by outcomes.account_id

),

transfers as (

    select
        account_id,
        count(*) as transfers_of_value,
        sum(price) as transfer_of_value_spend
    from gifts
    where status in ('sent', 'delivered')
      and transfer_of_value = true
      and (sent_at is null or sent_at <= :as_of)
    group by account_id

),

final as (

    select
        signings.account_id,
        signings.signed_on,
        signings.contract_amount,
        accounts.holdout,
        coalesce(sent_gifts.gifts_sent, 0) as gifts_sent,
        coalesce(sent_gifts.gift_spend, 0) as gift_spend,
        sent_gifts.first_sent_at,
        churns.churned_on,
        expansions.first_expansion_on,
        coalesce(expansions.expansion_amount, 0) as expansion_amount,
        nps_scores.nps,
        coalesce(referrals.referrals, 0) as referrals,
        coalesce(engagement.replies, 0) as replies,
        coalesce(engagement.meetings, 0) as meetings,
        coalesce(support_cases.support_cases, 0) as support_cases,
        non_renewals.non_renewed_on,
        coalesce(renewals.renewals, 0) as renewals,
        coalesce(advocacy.testimonial, 0) as testimonial,
        coalesce(advocacy.case_study, 0) as case_study,
        coalesce(transfers.transfers_of_value, 0) as transfers_of_value,
        coalesce(transfers.transfer_of_value_spend, 0) as transfer_of_value_spend
    from signings
    left join accounts
        on accounts.id = signings.account_id
    left join sent_gifts
        on sent_gifts.account_id = signings.account_id
    left join churns
        on churns.account_id = signings.account_id
    left join expansions
        on expansions.account_id = signings.account_id
    left join nps_scores
        on nps_scores.account_id = signings.account_id
    left join referrals
        on referrals.account_id = signings.account_id
    left join engagement
        on engagement.account_id = signings.account_id
    left join support_cases
        on support_cases.account_id = signings.account_id
    left join non_renewals
        on non_renewals.account_id = signings.account_id
    left join renewals
        on renewals.account_id = signings.account_id
    left join advocacy
        on advocacy.account_id = signings.account_id
    left join transfers
        on transfers.account_id = signings.account_id
    order by signings.account_id

)

select * from final
